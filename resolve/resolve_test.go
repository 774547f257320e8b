package resolve_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/resolve"
)

const (
	wsAcme     = "ws-acme"
	wsOther    = "ws-other"
	wsEmpty    = "ws-empty"    // no integrations
	wsNoActive = "ws-noactive" // an inactive default

	idR2       = "018f3a5c-7b1e-7000-8000-000000000001" // r2, active, default, prefix renders/
	idS3       = "018f3a5c-7b1e-7000-8000-000000000002" // s3, active, no prefix
	idGCS      = "018f3a5c-7b1e-7000-8000-000000000003" // gcs, inactive
	idAzure    = "018f3a5c-7b1e-7000-8000-000000000004" // azure, active, prefix archive/2026/
	idDrive    = "018f3a5c-7b1e-7000-8000-000000000005" // drive, active
	idLong     = "018f3a5c-7b1e-7000-8000-000000000006" // s3, active, a 400-byte prefix
	idOther    = "018f3a5c-7b1e-7000-8000-000000000009" // r2 of wsOther, active, default
	idInactDef = "018f3a5c-7b1e-7000-8000-00000000000c" // s3 of wsNoActive, inactive, default
	idMissing  = "018f3a5c-7b1e-7000-8000-0000000000ff" // nowhere

	// Markers that must never appear in anything the resolver says to a client.
	secretMarker = "SECRET-d41d8cd98f00"
	otherMarker  = "OTHERCORP-PRIVATE"
)

var longPrefix = strings.Repeat("p", 399) + "/"

// seed fills store with the fixture integrations.
func seed(t testing.TB, store destination.Store) {
	t.Helper()
	now := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	mk := func(id, ws string, p destination.Provider, active, def bool, prefix string) {
		in := &destination.Integration{
			ID: id, WorkspaceID: ws, Provider: p, Name: "integration " + id[len(id)-2:],
			IsActive: active, IsDefault: def,
			Config: destination.Config{Bucket: "bucket-" + id[len(id)-2:], AccessKeyID: "AKIA" + secretMarker,
				PathPrefix: prefix, PublicURL: "https://cdn.example.com"},
			Secrets: map[destination.SecretField]destination.Sealed{
				destination.SecretAccessKey: {Ciphertext: []byte(secretMarker), KeyID: 7, Hint: "••••" + secretMarker[len(secretMarker)-4:]},
			},
			CreatedAt: now, UpdatedAt: now,
		}
		if ws == wsOther {
			in.Name, in.Config.Bucket = otherMarker, strings.ToLower(otherMarker)
		}
		if _, err := store.Create(context.Background(), in); err != nil {
			t.Fatalf("seeding %s: %v", id, err)
		}
	}
	mk(idR2, wsAcme, destination.R2, true, true, "renders/")
	mk(idS3, wsAcme, destination.S3, true, false, "")
	mk(idGCS, wsAcme, destination.GCS, false, false, "")
	mk(idAzure, wsAcme, destination.Azure, true, false, "archive/2026/")
	mk(idDrive, wsAcme, destination.Drive, true, false, "")
	mk(idLong, wsAcme, destination.S3, true, false, longPrefix)
	mk(idOther, wsOther, destination.R2, true, true, "renders/")
	mk(idInactDef, wsNoActive, destination.S3, false, true, "")
	// The fallback cases rely on this: the inactive integration really is the default.
	if in, err := store.GetDefault(context.Background(), wsNoActive); err != nil || in.ID != idInactDef {
		t.Fatalf("inactive default not stored as default: %v", err)
	}
}

func dest(id string, p destination.Provider, prefix string) destination.Destination {
	return destination.Destination{IntegrationID: id, Provider: p, PathPrefix: prefix}
}

func given(ds ...destination.Destination) resolve.Request {
	return resolve.Request{Destinations: ds, Specified: true}
}

var (
	user      = destination.Caller{WorkspaceID: wsAcme, UserID: "user-1"}
	linkedKey = destination.Caller{WorkspaceID: wsAcme, APIKeyOnly: true}
	bareKey   = destination.Caller{APIKeyOnly: true}
)

type ruleCase struct {
	name   string
	opts   resolve.Options
	caller destination.Caller
	req    resolve.Request
	want   []string // "integrationID prefix" per target, in order; nil for CDN only
	errs   []string // "field code" per FieldError, in order; nil for success
}

func TestResolveRules(t *testing.T) {
	store := memstore.New()
	seed(t, store)
	many := func(n int) resolve.Request {
		r := resolve.Request{Specified: true}
		for i := range n {
			r.Destinations = append(r.Destinations, dest(idS3, destination.S3, fmt.Sprintf("n%d/", i)))
		}
		return r
	}
	cases := []ruleCase{
		// Omitted destinations: the default when active, else the CDN only.
		{name: "omitted/default", caller: user, req: resolve.Request{}, want: []string{idR2 + " renders/"}},
		{name: "omitted/default ignores ReplacePrefix", opts: resolve.Options{ReplacePrefix: true}, caller: user,
			req: resolve.Request{}, want: []string{idR2 + " renders/"}},
		{name: "omitted/linked API key", caller: linkedKey, req: resolve.Request{}, want: []string{idR2 + " renders/"}},
		{name: "omitted/no default", caller: destination.Caller{WorkspaceID: wsEmpty}, req: resolve.Request{}},
		{name: "omitted/inactive default", caller: destination.Caller{WorkspaceID: wsNoActive}, req: resolve.Request{}},
		{name: "omitted/API key without workspace", caller: bareKey, req: resolve.Request{}},
		// Explicit empty array: the CDN only, even with a default, even without a workspace.
		{name: "empty/with default", caller: user, req: given()},
		{name: "empty/API key without workspace", caller: bareKey, req: given()},
		{name: "non-empty without Specified counts as given", caller: user,
			req: resolve.Request{Destinations: []destination.Destination{dest(idS3, destination.S3, "")}}, want: []string{idS3 + " "}},

		// Prefixes.
		{name: "prefix/nests (documentation example)", caller: user, req: given(dest(idR2, destination.R2, "campaigns/summer-2026/")),
			want: []string{idR2 + " renders/campaigns/summer-2026/"}},
		{name: "prefix/normalized before nesting", caller: user, req: given(dest(idR2, destination.R2, "  campaigns/summer-2026 ")),
			want: []string{idR2 + " renders/campaigns/summer-2026/"}},
		{name: "prefix/omitted keeps the integration's", caller: user, req: given(dest(idR2, destination.R2, "")),
			want: []string{idR2 + " renders/"}},
		{name: "prefix/integration without prefix", caller: user, req: given(dest(idS3, destination.S3, "a/b")),
			want: []string{idS3 + " a/b/"}},
		{name: "prefix/replace", opts: resolve.Options{ReplacePrefix: true}, caller: user,
			req: given(dest(idR2, destination.R2, "campaigns/summer-2026/")), want: []string{idR2 + " campaigns/summer-2026/"}},
		{name: "prefix/replace without render prefix", opts: resolve.Options{ReplacePrefix: true}, caller: user,
			req: given(dest(idAzure, destination.Azure, "")), want: []string{idAzure + " archive/2026/"}},
		{name: "prefix/absolute", caller: user, req: given(dest(idR2, destination.R2, "/abs/")),
			errs: []string{"destinations[0].pathPrefix invalid"}},
		{name: "prefix/dot-dot", caller: user, req: given(dest(idR2, destination.R2, "a/../b")),
			errs: []string{"destinations[0].pathPrefix invalid"}},
		{name: "prefix/empty segment", caller: user, req: given(dest(idR2, destination.R2, "a//b")),
			errs: []string{"destinations[0].pathPrefix invalid"}},
		{name: "prefix/backslash", caller: user, req: given(dest(idR2, destination.R2, `a\b`)),
			errs: []string{"destinations[0].pathPrefix invalid"}},
		{name: "prefix/control character", caller: user, req: given(dest(idR2, destination.R2, "a\x00b")),
			errs: []string{"destinations[0].pathPrefix invalid"}},
		{name: "prefix/too long alone", caller: user, req: given(dest(idS3, destination.S3, strings.Repeat("x", 600))),
			errs: []string{"destinations[0].pathPrefix too_long"}},
		{name: "prefix/too long once nested", caller: user, req: given(dest(idLong, destination.S3, strings.Repeat("x", 200))),
			errs: []string{"destinations[0].pathPrefix too_long"}},
		{name: "prefix/long but fits when replacing", opts: resolve.Options{ReplacePrefix: true}, caller: user,
			req: given(dest(idLong, destination.S3, strings.Repeat("x", 200))), want: []string{idLong + " " + strings.Repeat("x", 200) + "/"}},

		// Integrations: workspace, activity, provider.
		{name: "several destinations in order", caller: user,
			req:  given(dest(idAzure, destination.Azure, "x"), dest(idR2, destination.R2, ""), dest(idDrive, destination.Drive, "")),
			want: []string{idAzure + " archive/2026/x/", idR2 + " renders/", idDrive + " "}},
		{name: "linked API key", caller: linkedKey, req: given(dest(idS3, destination.S3, "")), want: []string{idS3 + " "}},
		{name: "another workspace's ID is not found", caller: user, req: given(dest(idOther, destination.R2, "")),
			errs: []string{"destinations[0].integrationId not_found"}},
		{name: "missing ID", caller: user, req: given(dest(idMissing, destination.R2, "")),
			errs: []string{"destinations[0].integrationId not_found"}},
		{name: "inactive", caller: user, req: given(dest(idGCS, destination.GCS, "")),
			errs: []string{"destinations[0].integrationId inactive"}},
		{name: "provider mismatch", caller: user, req: given(dest(idR2, destination.S3, "")),
			errs: []string{"destinations[0].provider mismatch"}},
		{name: "unknown provider", caller: user, req: given(dest(idR2, "dropbox", "")),
			errs: []string{"destinations[0].provider invalid"}},
		{name: "required fields", caller: user, req: given(dest("", "", "")),
			errs: []string{"destinations[0].integrationId required", "destinations[0].provider required"}},
		{name: "overlong ID is not looked up", caller: user, req: given(dest(strings.Repeat("0", 300), destination.S3, "")),
			errs: []string{"destinations[0].integrationId invalid"}},
		{name: "ID with control characters", caller: user, req: given(dest("abc\ndef", destination.S3, "")),
			errs: []string{"destinations[0].integrationId invalid"}},

		// API keys not linked to a workspace.
		{name: "API key without workspace, destinations given", caller: bareKey, req: given(dest(idR2, destination.R2, "")),
			errs: []string{"destinations no_workspace"}},
		{name: "no workspace still reports shape problems", caller: destination.Caller{UserID: "u"},
			req:  given(dest(idR2, "nope", "/x")),
			errs: []string{"destinations no_workspace", "destinations[0].provider invalid", "destinations[0].pathPrefix invalid"}},

		// Duplicates.
		{name: "duplicate", caller: user, req: given(dest(idR2, destination.R2, "a/"), dest(idR2, destination.R2, "a")),
			errs: []string{"destinations[1] duplicate"}},
		{name: "same integration, other prefixes", caller: user,
			req:  given(dest(idR2, destination.R2, "a/"), dest(idR2, destination.R2, "b/"), dest(idR2, destination.R2, "")),
			want: []string{idR2 + " renders/a/", idR2 + " renders/b/", idR2 + " renders/"}},
		{name: "duplicate by effective prefix when replacing", opts: resolve.Options{ReplacePrefix: true}, caller: user,
			req: given(dest(idR2, destination.R2, ""), dest(idR2, destination.R2, "renders")), errs: []string{"destinations[1] duplicate"}},
		{name: "nesting keeps those apart", caller: user,
			req: given(dest(idR2, destination.R2, ""), dest(idR2, destination.R2, "renders")), want: []string{idR2 + " renders/", idR2 + " renders/renders/"}},

		// The maximum.
		{name: "max/default 10 allowed", caller: user, req: many(10), want: func() []string {
			var w []string
			for i := range 10 {
				w = append(w, fmt.Sprintf("%s n%d/", idS3, i))
			}
			return w
		}()},
		{name: "max/default 11 rejected", caller: user, req: many(11), errs: []string{"destinations too_many"}},
		{name: "max/configured", opts: resolve.Options{MaxDestinations: 2}, caller: user, req: many(3), errs: []string{"destinations too_many"}},
		{name: "max/negative means default", opts: resolve.Options{MaxDestinations: -1}, caller: user, req: many(11), errs: []string{"destinations too_many"}},

		// Everything at once.
		{name: "several problems at once", caller: user, req: given(
			dest(idR2, destination.R2, "ok/"),
			dest(idOther, destination.R2, ""),
			dest(idGCS, destination.S3, ""),
			dest(idAzure, destination.Azure, "../up"),
			dest(idR2, destination.R2, "ok"),
			dest("", "ftp", ""),
		), errs: []string{
			"destinations[1].integrationId not_found",
			"destinations[2].integrationId inactive",
			"destinations[2].provider mismatch",
			"destinations[3].pathPrefix invalid",
			"destinations[4] duplicate",
			"destinations[5].integrationId required",
			"destinations[5].provider invalid",
		}},
		{name: "too many plus problems in the first entries", opts: resolve.Options{MaxDestinations: 2}, caller: user,
			req:  given(dest(idMissing, destination.R2, ""), dest(idR2, destination.S3, ""), dest(idS3, destination.S3, "")),
			errs: []string{"destinations too_many", "destinations[0].integrationId not_found", "destinations[1].provider mismatch"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			targets, err := resolve.New(store, tc.opts).Resolve(context.Background(), tc.caller, tc.req)
			if tc.errs == nil {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if got := describe(targets); !equal(got, tc.want) {
					t.Fatalf("targets:\n got %q\nwant %q", got, tc.want)
				}
				return
			}
			if targets != nil {
				t.Errorf("targets = %q, want none with an error", describe(targets))
			}
			var ve *destination.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a *destination.ValidationError", err, err)
			}
			var got []string
			for _, fe := range ve.Errors {
				got = append(got, fe.Field+" "+fe.Code)
				if fe.Message == "" {
					t.Errorf("%s: empty message", fe.Field)
				}
			}
			if !equal(got, tc.errs) {
				t.Fatalf("field errors:\n got %q\nwant %q\n(%v)", got, tc.errs, err)
			}
			// One kind: the field codes say why, the error is only ErrInvalid (a 400).
			for _, k := range destination.Kinds() {
				if errors.Is(err, k) != (k == destination.ErrInvalid) {
					t.Errorf("errors.Is(err, %v) = %v", k, !(k == destination.ErrInvalid))
				}
			}
			assertClientSafe(t, err)
		})
	}
}

func describe(ts []destination.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.IntegrationID+" "+t.Prefix)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// assertClientSafe fails when anything the error would show a client (its text, its JSON, its
// %+v and %#v forms) contains a secret or another workspace's data.
func assertClientSafe(t *testing.T, err error) {
	t.Helper()
	j, _ := json.Marshal(err)
	for _, s := range []string{err.Error(), string(j), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, m := range []string{secretMarker, otherMarker, strings.ToLower(otherMarker), wsOther, "bucket-"} {
			if strings.Contains(s, m) {
				t.Errorf("client-facing error contains %q: %s", m, s)
			}
		}
	}
}

// An ID of another workspace gives exactly the error a missing ID gives: nothing leaks.
func TestCrossWorkspaceIndistinguishable(t *testing.T) {
	store := memstore.New()
	seed(t, store)
	r := resolve.New(store, resolve.Options{})
	_, errOther := r.Resolve(context.Background(), user, given(dest(idOther, destination.R2, "x/")))
	_, errMissing := r.Resolve(context.Background(), user, given(dest(idMissing, destination.R2, "x/")))
	a, _ := json.Marshal(errOther)
	b, _ := json.Marshal(errMissing)
	if errOther == nil || string(a) != string(b) || errOther.Error() != errMissing.Error() {
		t.Fatalf("another workspace's ID: %s\nmissing ID: %s", a, b)
	}
	// And the other workspace resolves its own ID fine.
	ts, err := r.Resolve(context.Background(), destination.Caller{WorkspaceID: wsOther}, given(dest(idOther, destination.R2, "x/")))
	if err != nil || len(ts) != 1 || ts[0].Prefix != "renders/x/" {
		t.Fatalf("owner: %q, %v", describe(ts), err)
	}
}

// countingStore counts lookups and can fail them (a wrapper of our own interface).
type countingStore struct {
	destination.Store
	gets, defaults atomic.Int64
	fail           error
}

func (s *countingStore) Get(ctx context.Context, ws, id string) (*destination.Integration, error) {
	s.gets.Add(1)
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.Get(ctx, ws, id)
}

func (s *countingStore) GetDefault(ctx context.Context, ws string) (*destination.Integration, error) {
	s.defaults.Add(1)
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.GetDefault(ctx, ws)
}

func TestFetchesEachIntegrationOnce(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	seed(t, cs.Store)
	r := resolve.New(cs, resolve.Options{})
	ts, err := r.Resolve(context.Background(), user, given(
		dest(idR2, destination.R2, "a"), dest(idR2, destination.R2, "b"), dest(idS3, destination.S3, ""),
		dest(idR2, destination.R2, "c"), dest(idS3, destination.S3, "d")))
	if err != nil {
		t.Fatal(err)
	}
	if n := cs.gets.Load(); n != 2 {
		t.Errorf("Store.Get called %d times for 2 distinct integrations", n)
	}
	// Targets are data: they carry the integration's ID, provider and version, nothing else.
	for i, tg := range ts {
		in, _ := cs.Store.Get(context.Background(), wsAcme, tg.IntegrationID)
		if tg.Provider != in.Provider || tg.IntegrationVersion != in.Version {
			t.Errorf("target %d: %+v for integration version %d", i, tg, in.Version)
		}
	}
}

func TestBoundedWork(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	seed(t, cs.Store)
	req := resolve.Request{Specified: true}
	for i := range 100000 {
		req.Destinations = append(req.Destinations, dest(fmt.Sprintf("id-%d", i), destination.S3, ""))
	}
	_, err := resolve.New(cs, resolve.Options{}).Resolve(context.Background(), user, req)
	if !errors.Is(err, destination.ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if n := cs.gets.Load(); n > resolve.DefaultMaxDestinations {
		t.Errorf("%d lookups for an oversized request, want at most %d", n, resolve.DefaultMaxDestinations)
	}
	var ve *destination.ValidationError
	errors.As(err, &ve)
	if len(ve.Errors) != 1+resolve.DefaultMaxDestinations {
		t.Errorf("%d problems, want too_many plus one per looked-up entry", len(ve.Errors))
	}
}

func TestStoreFailureIsNotAValidationError(t *testing.T) {
	boom := errors.New("database is down")
	cs := &countingStore{Store: memstore.New(), fail: boom}
	r := resolve.New(cs, resolve.Options{})
	for name, req := range map[string]resolve.Request{"given": given(dest(idR2, destination.R2, "")), "omitted": {}} {
		_, err := r.Resolve(context.Background(), user, req)
		if !errors.Is(err, boom) || errors.Is(err, destination.ErrInvalid) {
			t.Errorf("%s: err = %v; want the store's error, not a validation error", name, err)
		}
	}
}

func TestCancelled(t *testing.T) {
	store := memstore.New()
	seed(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, req := range map[string]resolve.Request{"given": given(dest(idR2, destination.R2, "")), "omitted": {}} {
		if _, err := resolve.New(store, resolve.Options{}).Resolve(ctx, user, req); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", name, err)
		}
	}
}

// A corrupt stored prefix is the server's fault: an error, but not one blamed on the client.
func TestCorruptStoredPrefix(t *testing.T) {
	store := memstore.New()
	bad := &destination.Integration{ID: "bad", WorkspaceID: wsAcme, Provider: destination.S3, IsActive: true, IsDefault: true,
		Config: destination.Config{PathPrefix: "../etc"}}
	if _, err := store.Create(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	r := resolve.New(store, resolve.Options{})
	for name, req := range map[string]resolve.Request{"given": given(dest("bad", destination.S3, "")), "omitted": {}} {
		_, err := r.Resolve(context.Background(), user, req)
		if err == nil || errors.Is(err, destination.ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// Resolve is safe for concurrent use (run with -race).
func TestConcurrent(t *testing.T) {
	store := memstore.New()
	seed(t, store)
	r := resolve.New(store, resolve.Options{})
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 200 {
				if _, err = r.Resolve(context.Background(), user, given(dest(idR2, destination.R2, "a"), dest(idS3, destination.S3, ""))); err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzResolve builds two-entry requests from the fixture's IDs and arbitrary providers and
// prefixes, and checks the invariants of any result: targets only for active integrations of the
// caller's workspace with the named provider, prefixes normalized, nested under the integration's
// (unless replacing), within MaxPrefixLen and never repeated; otherwise a client-safe
// *destination.ValidationError.
func FuzzResolve(f *testing.F) {
	f.Add(uint8(0), "r2", "campaigns/summer-2026/", uint8(1), "s3", "", false)
	f.Add(uint8(0), "r2", "a", uint8(0), "r2", "a/", false)
	f.Add(uint8(0), "r2", "", uint8(0), "r2", "renders", true)
	f.Add(uint8(5), "s3", strings.Repeat("x/", 60), uint8(6), "r2", "../", false)
	f.Add(uint8(2), "gcs", " a ", uint8(3), "azure", "a//b", true)
	store := memstore.New()
	seed(f, store)
	ids := []string{idR2, idS3, idGCS, idAzure, idDrive, idLong, idOther, idInactDef, idMissing, ""}
	f.Fuzz(func(t *testing.T, i1 uint8, p1, x1 string, i2 uint8, p2, x2 string, replace bool) {
		req := given(dest(ids[int(i1)%len(ids)], destination.Provider(p1), x1), dest(ids[int(i2)%len(ids)], destination.Provider(p2), x2))
		ts, err := resolve.New(store, resolve.Options{ReplacePrefix: replace}).Resolve(context.Background(), user, req)
		if err != nil {
			checkValidationError(t, err)
			assertClientSafe(t, err)
			return
		}
		if len(ts) != 2 {
			t.Fatalf("%d targets for 2 entries", len(ts))
		}
		for k, tg := range ts {
			d := req.Destinations[k]
			in, err := store.Get(context.Background(), wsAcme, tg.IntegrationID)
			if err != nil || in.ID != d.IntegrationID || !in.IsActive || in.Provider != d.Provider || tg.Provider != in.Provider {
				t.Fatalf("target %d: %+v for %+v", k, in, d)
			}
			if len(tg.Prefix) > destination.MaxPrefixLen || (tg.Prefix != "" && !strings.HasSuffix(tg.Prefix, "/")) {
				t.Fatalf("target %d: prefix %q", k, tg.Prefix)
			}
			if np, err := destination.NormalizePrefix(tg.Prefix); err != nil || np != tg.Prefix {
				t.Fatalf("target %d: prefix %q is not normalized", k, tg.Prefix)
			}
			if !replace && !strings.HasPrefix(tg.Prefix, in.Config.PathPrefix) {
				t.Fatalf("target %d: prefix %q not under %q", k, tg.Prefix, in.Config.PathPrefix)
			}
		}
		if ts[0].IntegrationID == ts[1].IntegrationID && ts[0].Prefix == ts[1].Prefix {
			t.Fatalf("duplicate targets %q", describe(ts))
		}
	})
}

// leakyStore breaks the Store contract: it returns integrations of any workspace.
type leakyStore struct{ destination.Store }

func (s leakyStore) Get(ctx context.Context, _, id string) (*destination.Integration, error) {
	return s.Store.Get(ctx, wsOther, id)
}

func (s leakyStore) GetDefault(ctx context.Context, _ string) (*destination.Integration, error) {
	return s.Store.GetDefault(ctx, wsOther)
}

// Even a store that leaks rows across workspaces cannot make the resolver deliver to them.
func TestLeakyStoreStillScoped(t *testing.T) {
	store := memstore.New()
	seed(t, store)
	r := resolve.New(leakyStore{store}, resolve.Options{})
	_, err := r.Resolve(context.Background(), user, given(dest(idOther, destination.R2, "")))
	if fe, ok := fieldError(err, "destinations[0].integrationId"); !ok || fe.Code != destination.CodeNotFound {
		t.Fatalf("err = %v", err)
	}
	if ts, err := r.Resolve(context.Background(), user, resolve.Request{}); err != nil || ts != nil {
		t.Fatalf("omitted: %q, %v", describe(ts), err)
	}
}

func fieldError(err error, field string) (destination.FieldError, bool) {
	var ve *destination.ValidationError
	if !errors.As(err, &ve) {
		return destination.FieldError{}, false
	}
	return ve.Field(field)
}
