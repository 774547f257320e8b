// Package resolve turns the destinations a render asks for into delivery targets, by the rules of
// the API documentation: every entry must name an active integration of the caller's workspace
// with a matching provider; an entry's pathPrefix nests under the integration's own prefix (or
// replaces it, see Options); omitted destinations fall back to the workspace's default
// integration, or to the platform CDN alone.
//
// Resolution happens before any rendering, so a bad request fails fast. Every problem in one
// request is reported at once, as a *destination.ValidationError whose FieldErrors name the
// entry ("destinations[2].provider") and carry a destination.Code* reason (CodeNotFound,
// CodeInactive, CodeMismatch, CodeNoWorkspace, ...); the error is of one kind,
// destination.ErrInvalid (a 400). Messages are safe to show to the client: they never
// contain a secret, and an integration of another workspace reads exactly like a missing one.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ilovevideoeditor/outputs/destination"
)

// DefaultMaxDestinations is the number of destinations a render may name when
// Options.MaxDestinations is not set.
const DefaultMaxDestinations = 10

// maxIDLen bounds an integrationId before it is looked up: longer values are rejected as invalid
// without touching the store. Integration IDs are UUIDv7 strings (36 bytes).
const maxIDLen = 255

// Options adjusts a Resolver. The zero value is ready to use.
type Options struct {
	// ReplacePrefix makes a destination's pathPrefix replace the integration's own prefix
	// instead of nesting under it. By default it nests: integration "renders/" and destination
	// "campaigns/summer-2026/" give "renders/campaigns/summer-2026/", as the API documentation's
	// example response shows (its rule text says "overrides"; this option is that reading). A
	// destination without pathPrefix uses the integration's prefix either way.
	ReplacePrefix bool
	// MaxDestinations is the most entries a render may name; more is rejected with
	// destination.CodeTooMany. Zero or negative means DefaultMaxDestinations (10).
	MaxDestinations int
}

// Resolver resolves a render's destinations against a Store. It is safe for concurrent use.
type Resolver struct {
	store   destination.Store
	replace bool
	max     int
}

// New returns a Resolver that looks integrations up in store.
func New(store destination.Store, opts Options) *Resolver {
	max := opts.MaxDestinations
	if max <= 0 {
		max = DefaultMaxDestinations
	}
	return &Resolver{store: store, replace: opts.ReplacePrefix, max: max}
}

// Request is what a render asks for: the entries of its videoJSON "destinations" array (see
// destination.ResolveRequest).
type Request = destination.ResolveRequest

// Resolver implements destination.Resolver.
var _ destination.Resolver = (*Resolver)(nil)

// Resolve returns the targets a render delivers to, besides the platform CDN copy, which is
// always made. An empty (nil) result with a nil error means the CDN only.
//
//   - Destinations omitted: the caller's workspace default integration if it exists and is
//     active, else the CDN only. A caller without a workspace gets the CDN only.
//   - Destinations given as an empty array: the CDN only.
//   - Destinations given: one target per entry, in order, each naming its integration (ID,
//     provider, version seen) and the effective normalized prefix. A caller without a workspace (an API key
//     not linked to one) is rejected with destination.CodeNoWorkspace.
//
// Invalid requests give a *destination.ValidationError listing every problem (see the package
// documentation). Store failures other than destination.ErrNotFound, and a cancelled ctx, are
// returned wrapped and are not validation errors. Each distinct integration is fetched once, and
// at most MaxDestinations entries are looked up, however long the request.
func (r *Resolver) Resolve(ctx context.Context, caller destination.Caller, req Request) ([]destination.Target, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !req.Specified && len(req.Destinations) == 0 {
		return r.fallback(ctx, caller.WorkspaceID)
	}
	if len(req.Destinations) == 0 {
		return nil, nil
	}
	return r.resolve(ctx, caller, req.Destinations)
}

// fallback resolves omitted destinations: the active default of the workspace, or nothing.
func (r *Resolver) fallback(ctx context.Context, workspaceID string) ([]destination.Target, error) {
	if workspaceID == "" {
		return nil, nil
	}
	in, err := r.store.GetDefault(ctx, workspaceID)
	switch {
	case errors.Is(err, destination.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("resolve: default integration: %w", err)
	case in == nil || in.WorkspaceID != workspaceID || !in.IsActive:
		return nil, nil
	}
	prefix, err := r.effectivePrefix(in, "")
	if err != nil {
		return nil, err
	}
	return []destination.Target{target(in, prefix)}, nil
}

// resolve checks explicit destinations entry by entry, collecting every problem.
func (r *Resolver) resolve(ctx context.Context, caller destination.Caller, dests []destination.Destination) ([]destination.Target, error) {
	var probs destination.Problems
	ws := caller.WorkspaceID
	if ws == "" {
		msg := "the caller is not linked to a workspace, so destinations cannot be resolved"
		if caller.APIKeyOnly {
			msg = "the API key is not linked to a workspace: link it to a workspace to use destinations, or omit destinations"
		}
		probs.Add("destinations", destination.CodeNoWorkspace, msg)
	}
	if len(dests) > r.max {
		probs.Add("destinations", destination.CodeTooMany,
			fmt.Sprintf("must have at most %d entries, not %d", r.max, len(dests)))
		dests = dests[:r.max]
	}

	// Requests are small (MaxDestinations), so the caches are slices scanned linearly: cheaper
	// than maps at this size, and the work stays bounded by MaxDestinations². fetched gets at
	// most one element per entry, so it never outgrows its capacity and pointers into it stay
	// valid.
	fetched := make([]fetchedIntegration, 0, len(dests))
	seen := make([]seenEntry, 0, len(dests))
	targets := make([]destination.Target, 0, len(dests))

	for i, d := range dests {
		e := entry{probs: &probs, i: i}
		idOK := e.checkID(d.IntegrationID)
		provOK := e.checkProvider(d.Provider)
		prefix, prefixErr := destination.NormalizePrefix(d.PathPrefix)
		e.merge(prefixErr)
		if ws == "" || !idOK {
			continue
		}

		f := findFetched(fetched, d.IntegrationID)
		if f == nil {
			in, err := r.get(ctx, ws, d.IntegrationID)
			if err != nil {
				return nil, err
			}
			fetched = append(fetched, fetchedIntegration{id: d.IntegrationID, in: in})
			f = &fetched[len(fetched)-1]
		}
		in := f.in
		if in == nil {
			e.add("integrationId", destination.CodeNotFound, "no integration with this ID in the caller's workspace")
			continue
		}
		if !in.IsActive {
			e.add("integrationId", destination.CodeInactive, "the integration is inactive: activate it or remove this destination")
		}
		if provOK && d.Provider != in.Provider {
			e.add("provider", destination.CodeMismatch, fmt.Sprintf("does not match the integration's provider %q", in.Provider))
		}
		if prefixErr != nil {
			continue
		}
		eff, err := r.effectivePrefix(in, prefix)
		if err != nil {
			return nil, err
		}
		if len(eff) > destination.MaxPrefixLen {
			e.add("pathPrefix", destination.CodeTooLong,
				fmt.Sprintf("together with the integration's prefix must be at most %d bytes", destination.MaxPrefixLen))
			continue
		}
		if j := findSeen(seen, in.ID, eff); j >= 0 {
			e.add("", destination.CodeDuplicate, fmt.Sprintf("repeats destinations[%d]: same integration and effective prefix", j))
			continue
		}
		seen = append(seen, seenEntry{id: in.ID, prefix: eff, i: i})
		if e.bad {
			continue
		}
		targets = append(targets, target(in, eff))
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return targets, nil
}

// target is the storable target of an accepted integration and effective prefix.
func target(in *destination.Integration, prefix string) destination.Target {
	return destination.Target{IntegrationID: in.ID, Provider: in.Provider, Prefix: prefix, IntegrationVersion: in.Version}
}

// fetchedIntegration caches one looked-up integration (nil: not in the caller's workspace).
type fetchedIntegration struct {
	id string
	in *destination.Integration
}

func findFetched(fs []fetchedIntegration, id string) *fetchedIntegration {
	for i := range fs {
		if fs[i].id == id {
			return &fs[i]
		}
	}
	return nil
}

// seenEntry is an accepted (integration, effective prefix) pair and the position that named it.
type seenEntry struct {
	id, prefix string
	i          int
}

func findSeen(ss []seenEntry, id, prefix string) int {
	for _, s := range ss {
		if s.id == id && s.prefix == prefix {
			return s.i
		}
	}
	return -1
}

// entry records the problems of the destination at position i, naming their fields
// "destinations[i].field". bad reports whether it recorded any.
type entry struct {
	probs *destination.Problems
	i     int
	bad   bool
}

func (e *entry) pos() string { return "destinations[" + strconv.Itoa(e.i) + "]" }

func (e *entry) add(field, code, msg string) {
	e.bad = true
	f := e.pos()
	if field != "" {
		f += "." + field
	}
	e.probs.Add(f, code, msg)
}

// merge records the problems of err, a *destination.ValidationError from the destination package.
func (e *entry) merge(err error) {
	if err != nil {
		e.bad = true
		e.probs.Merge(e.pos(), err)
	}
}

// checkID records a problem with integrationId and reports whether it can be looked up.
func (e *entry) checkID(id string) bool {
	switch {
	case id == "":
		e.add("integrationId", destination.CodeRequired, "is required")
		return false
	case len(id) > maxIDLen || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl):
		e.add("integrationId", destination.CodeInvalid, "is not an integration ID")
		return false
	}
	return true
}

// checkProvider records a problem with provider and reports whether it names a provider.
func (e *entry) checkProvider(p destination.Provider) bool {
	if p == "" {
		e.add("provider", destination.CodeRequired, "is required")
		return false
	}
	if p.Valid() {
		return true
	}
	_, err := destination.ParseProvider(string(p))
	e.merge(err)
	return false
}

// get fetches an integration of the workspace; nil without error when there is none.
func (r *Resolver) get(ctx context.Context, ws, id string) (*destination.Integration, error) {
	in, err := r.store.Get(ctx, ws, id)
	switch {
	case errors.Is(err, destination.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("resolve: looking up integration: %w", err)
	case in == nil || in.WorkspaceID != ws:
		// A store that leaks another workspace's row still must not let it be used.
		return nil, nil
	}
	return in, nil
}

// effectivePrefix combines the integration's prefix with a normalized render prefix.
func (r *Resolver) effectivePrefix(in *destination.Integration, prefix string) (string, error) {
	base, err := destination.NormalizePrefix(in.Config.PathPrefix)
	if err != nil {
		// Stored data the library validated on the way in: this is a server-side fault, not the
		// client's, so it is deliberately not a ValidationError.
		return "", fmt.Errorf("resolve: integration %s has an invalid stored pathPrefix", in.ID)
	}
	switch {
	case prefix == "":
		return base, nil
	case r.replace:
		return prefix, nil
	}
	return destination.JoinPrefix(base, prefix), nil
}
