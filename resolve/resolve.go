// Package resolve turns the destinations a render asks for into delivery targets, by the rules of
// the API documentation: every entry must name an active integration of the caller's workspace
// with a matching provider; an entry's pathPrefix nests under the integration's own prefix (or
// replaces it, see Options); omitted destinations fall back to the workspace's default
// integration, or to the platform CDN alone.
//
// Resolution happens before any rendering, so a bad request fails fast. Every problem in one
// request is reported at once, as a *destination.ValidationError whose FieldErrors name the
// entry ("destinations[2].provider") and carry a destination.Code* reason; errors.Is matches
// destination.ErrInvalid and, where they apply, destination.ErrNotFound, ErrInactive,
// ErrProviderMismatch and ErrNoWorkspace. Messages are safe to show to the client: they never
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

// Request is what a render asks for: the entries of its videoJSON "destinations" array.
// Specified distinguishes an omitted "destinations" (false: the workspace default applies) from
// an explicit array (true, possibly empty: exactly these destinations). A non-empty Destinations
// counts as specified whatever Specified says.
type Request struct {
	Destinations []destination.Destination
	Specified    bool
}

// Resolve returns the targets a render delivers to, besides the platform CDN copy, which is
// always made. An empty (nil) result with a nil error means the CDN only.
//
//   - Destinations omitted: the caller's workspace default integration if it exists and is
//     active, else the CDN only. A caller without a workspace gets the CDN only.
//   - Destinations given as an empty array: the CDN only.
//   - Destinations given: one target per entry, in order, each carrying its own copy of the
//     integration and the effective normalized prefix. A caller without a workspace (an API key
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
	return []destination.Target{{Integration: in, Prefix: prefix}}, nil
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

	// fetched caches each distinct integration (nil: not found in the caller's workspace);
	// used marks the ones already handed to a target, which then get their own copy.
	fetched := make(map[string]*destination.Integration, len(dests))
	used := make(map[string]bool, len(dests))
	type entryKey struct{ id, prefix string }
	seen := make(map[entryKey]int, len(dests))
	targets := make([]destination.Target, 0, len(dests))

	for i, d := range dests {
		pos := "destinations[" + strconv.Itoa(i) + "]"
		before := probs.Len()
		idOK := checkID(&probs, pos, d.IntegrationID)
		provOK := checkProvider(&probs, pos, d.Provider)
		prefix, err := destination.NormalizePrefix(d.PathPrefix)
		prefixOK := err == nil
		probs.Merge(pos, err)
		if ws == "" || !idOK {
			continue
		}

		in, ok := fetched[d.IntegrationID]
		if !ok {
			in, err = r.get(ctx, ws, d.IntegrationID)
			if err != nil {
				return nil, err
			}
			fetched[d.IntegrationID] = in
		}
		if in == nil {
			probs.Add(pos+".integrationId", destination.CodeNotFound, "no integration with this ID in the caller's workspace")
			continue
		}
		if !in.IsActive {
			probs.Add(pos+".integrationId", destination.CodeInactive, "the integration is inactive: activate it or remove this destination")
		}
		if provOK && d.Provider != in.Provider {
			probs.Add(pos+".provider", destination.CodeMismatch,
				fmt.Sprintf("does not match the integration's provider %q", in.Provider))
		}
		if !prefixOK {
			continue
		}
		eff, err := r.effectivePrefix(in, prefix)
		if err != nil {
			return nil, err
		}
		if len(eff) > destination.MaxPrefixLen {
			probs.Add(pos+".pathPrefix", destination.CodeTooLong,
				fmt.Sprintf("together with the integration's prefix must be at most %d bytes", destination.MaxPrefixLen))
			continue
		}
		key := entryKey{in.ID, eff}
		if j, dup := seen[key]; dup {
			probs.Add(pos, destination.CodeDuplicate,
				fmt.Sprintf("repeats destinations[%d]: same integration and effective prefix", j))
			continue
		}
		seen[key] = i
		if probs.Len() > before {
			continue
		}
		t := destination.Target{Integration: in, Prefix: eff}
		if used[in.ID] {
			t.Integration = in.Clone()
		}
		used[in.ID] = true
		targets = append(targets, t)
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return targets, nil
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

// checkID records a problem with an entry's integrationId and reports whether it can be looked up.
func checkID(probs *destination.Problems, pos, id string) bool {
	switch {
	case id == "":
		probs.Add(pos+".integrationId", destination.CodeRequired, "is required")
		return false
	case len(id) > maxIDLen || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl):
		probs.Add(pos+".integrationId", destination.CodeInvalid, "is not an integration ID")
		return false
	}
	return true
}

// checkProvider records a problem with an entry's provider and reports whether it is a valid one.
func checkProvider(probs *destination.Problems, pos string, p destination.Provider) bool {
	if p == "" {
		probs.Add(pos+".provider", destination.CodeRequired, "is required")
		return false
	}
	_, err := destination.ParseProvider(string(p))
	probs.Merge(pos, err)
	return err == nil
}
