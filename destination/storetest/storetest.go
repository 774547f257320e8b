// Package storetest is a conformance suite for destination.Store implementations, in the manner
// of gocloud.dev's drivertest: an implementation's own test calls Run with a constructor, and
// the suite checks the whole contract documented on destination.Store.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) destination.Store { return mystore.New(...) })
//	}
//
// What it checks: create, get, list, update and delete; workspace isolation (another
// workspace's ID is destination.ErrNotFound everywhere and never listed); optimistic concurrency
// (a stale version is destination.ErrConflict and changes nothing); one default per workspace,
// also with 100 goroutines racing to set different defaults while a reader watches; List order
// (CreatedAt, then ID); Scan paging in ID order across workspaces; copy semantics of every value
// passed in or returned (including the Secrets map, its ciphertext bytes and LastTest); deleting
// the default; exact round-trip of every field; cancelled contexts.
//
// Timestamps: the suite uses instants truncated to the microsecond, in a non-UTC zone, and
// compares them with time.Time.Equal, so a store must keep at least microsecond precision but may
// return any location. A nil and an empty Secrets map (or LastTest.Warnings slice) are treated
// as the same value.
//
// Strings: the suite stores valid UTF-8 without NUL bytes (PostgreSQL cannot store NUL in text),
// including quotes, backslashes, SQL fragments and non-ASCII characters.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Run runs the conformance suite. newStore is called once per subtest and must return an empty
// store (its own database, schema or truncated table): Scan's checks see every workspace.
// Cleanup belongs in t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) destination.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, destination.Store)
	}{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"CreateMinimal", testCreateMinimal},
		{"CreateDuplicate", testCreateDuplicate},
		{"CreateInvalid", testCreateInvalid},
		{"GetMissing", testGetMissing},
		{"Update", testUpdate},
		{"UpdateStale", testUpdateStale},
		{"UpdateMissing", testUpdateMissing},
		{"SetLastTest", testSetLastTest},
		{"Delete", testDelete},
		{"WorkspaceIsolation", testWorkspaceIsolation},
		{"ListOrder", testListOrder},
		{"DefaultOnCreate", testDefaultOnCreate},
		{"DefaultOnUpdate", testDefaultOnUpdate},
		{"DeleteDefault", testDeleteDefault},
		{"ConcurrentDefaults", testConcurrentDefaults},
		{"ConcurrentDefaultCreates", testConcurrentDefaultCreates},
		{"ConcurrentUpdatesOneWins", testConcurrentUpdatesOneWins},
		{"Scan", testScan},
		{"ScanByteOrder", ScanByteOrder},
		{"CopySemantics", testCopySemantics},
		{"StringsRoundTrip", testStringsRoundTrip},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// zone is a non-UTC location for the fixtures' timestamps.
var zone = time.FixedZone("UTC+05:30", 5*3600+1800)

// base is the fixtures' reference instant, microsecond precision.
var base = time.Date(2026, 5, 17, 9, 30, 15, 123456000, zone)

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func newWorkspace() string { return "ws_" + newID() }

// Fixture returns a fully populated integration of workspace ws created at created: every
// Config field a store keeps, two sealed secrets with key IDs and hints, and a last test result
// with warnings. It is exported for stores' own tests.
func Fixture(ws, name string, created time.Time) *destination.Integration {
	return &destination.Integration{
		ID:          newID(),
		WorkspaceID: ws,
		Provider:    destination.S3,
		Name:        name,
		IsActive:    true,
		Config: destination.Config{
			Bucket:             "renders-bucket",
			AccessKeyID:        "AKIAEXAMPLE",
			Endpoint:           "https://s3.eu-west-1.amazonaws.com",
			Region:             "eu-west-1",
			PublicURL:          "https://cdn.example.com",
			PathPrefix:         "renders/",
			GCSProjectID:       "project-123",
			AzureAccountName:   "account",
			AzureContainerName: "container",
			DriveFolderID:      "folder_1",
		},
		Secrets: map[destination.SecretField]destination.Sealed{
			destination.SecretAccessKey:       {Ciphertext: []byte{1, 0, 0, 0, 42, 0xff, 0x00, 'x', 'y'}, KeyID: 42, Hint: "••••WXYZ"},
			destination.SecretAzureAccountKey: {Ciphertext: []byte("\x01\x00\x00\x00\x07sealed"), KeyID: 0xfffffffe, Hint: "••••"},
		},
		CreatedAt: created,
		UpdatedAt: created.Add(time.Second),
		Version:   99, // ignored by Create
		LastTest: &destination.TestResult{
			OK:             false,
			Code:           "permission_denied",
			Message:        `the key lacks s3:PutObject on "renders/*"`,
			Warnings:       []string{"probe not deleted", "slow endpoint"},
			TestedAt:       created.Add(2 * time.Second),
			DurationMillis: 1234,
		},
	}
}

// Equal reports how got differs from want, or "" when they are the same integration value under
// the suite's rules: times compared with Equal, nil and empty Secrets or Warnings alike.
func Equal(want, got *destination.Integration) string {
	if (want == nil) != (got == nil) {
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	if want == nil {
		return ""
	}
	var diffs []string
	for _, f := range []struct {
		name string
		w, g time.Time
	}{{"CreatedAt", want.CreatedAt, got.CreatedAt}, {"UpdatedAt", want.UpdatedAt, got.UpdatedAt}} {
		if !f.w.Equal(f.g) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", f.name, f.g, f.w))
		}
	}
	w, g := normalize(want), normalize(got)
	if (w.LastTest == nil) != (g.LastTest == nil) {
		diffs = append(diffs, fmt.Sprintf("LastTest = %+v, want %+v", g.LastTest, w.LastTest))
	} else if w.LastTest != nil {
		if !w.LastTest.TestedAt.Equal(g.LastTest.TestedAt) {
			diffs = append(diffs, fmt.Sprintf("LastTest.TestedAt = %v, want %v", g.LastTest.TestedAt, w.LastTest.TestedAt))
		}
		w.LastTest.TestedAt, g.LastTest.TestedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(w.LastTest, g.LastTest) {
			diffs = append(diffs, fmt.Sprintf("LastTest = %+v, want %+v", *g.LastTest, *w.LastTest))
		}
	}
	if !reflect.DeepEqual(w.Secrets, g.Secrets) {
		diffs = append(diffs, fmt.Sprintf("Secrets = %v, want %v", g.Secrets, w.Secrets))
	}
	w.Secrets, g.Secrets, w.LastTest, g.LastTest = nil, nil, nil, nil
	w.CreatedAt, g.CreatedAt, w.UpdatedAt, g.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(w, g) {
		diffs = append(diffs, fmt.Sprintf("got  %+v\nwant %+v", *g, *w))
	}
	return strings.Join(diffs, "\n")
}

func normalize(in *destination.Integration) *destination.Integration {
	c := in.Clone()
	if len(c.Secrets) == 0 {
		c.Secrets = nil
	}
	for k, v := range c.Secrets {
		if len(v.Ciphertext) == 0 {
			v.Ciphertext = nil
			c.Secrets[k] = v
		}
	}
	if c.LastTest != nil {
		if len(c.LastTest.Warnings) == 0 {
			c.LastTest.Warnings = nil
		}
	}
	return c
}

func mustEqual(t *testing.T, what string, want, got *destination.Integration) {
	t.Helper()
	if d := Equal(want, got); d != "" {
		t.Fatalf("%s differs:\n%s", what, d)
	}
}

func create(t *testing.T, s destination.Store, in *destination.Integration) *destination.Integration {
	t.Helper()
	out, err := s.Create(context.Background(), in)
	if err != nil {
		t.Fatalf("Create(%s): %v", in.Name, err)
	}
	return out
}

func get(t *testing.T, s destination.Store, ws, id string) *destination.Integration {
	t.Helper()
	out, err := s.Get(context.Background(), ws, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return out
}

func list(t *testing.T, s destination.Store, ws string) []*destination.Integration {
	t.Helper()
	out, err := s.List(context.Background(), ws)
	if err != nil {
		t.Fatalf("List(%s): %v", ws, err)
	}
	return out
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want errors.Is %v", what, err, target)
	}
}

// stored returns what the store should hold after creating in: in with version 1.
func stored(in *destination.Integration, version int64) *destination.Integration {
	c := in.Clone()
	c.Version = version
	return c
}

func testCreateGetRoundTrip(t *testing.T, s destination.Store) {
	in := Fixture(newWorkspace(), "primary", base)
	out := create(t, s, in)
	want := stored(in, 1)
	mustEqual(t, "Create result", want, out)
	mustEqual(t, "Get result", want, get(t, s, in.WorkspaceID, in.ID))
	l := list(t, s, in.WorkspaceID)
	if len(l) != 1 {
		t.Fatalf("List returned %d integrations, want 1", len(l))
	}
	mustEqual(t, "List result", want, l[0])
	page, err := s.Scan(context.Background(), "", 10)
	if err != nil || len(page) != 1 {
		t.Fatalf("Scan = %d integrations, %v; want 1", len(page), err)
	}
	mustEqual(t, "Scan result", want, page[0])
}

func testCreateMinimal(t *testing.T, s destination.Store) {
	in := &destination.Integration{
		ID: newID(), WorkspaceID: newWorkspace(), Provider: destination.Drive, Name: "",
		CreatedAt: base, UpdatedAt: base,
	}
	out := create(t, s, in)
	mustEqual(t, "Create result", stored(in, 1), out)
	got := get(t, s, in.WorkspaceID, in.ID)
	mustEqual(t, "Get result", stored(in, 1), got)
	if got.LastTest != nil {
		t.Errorf("LastTest = %+v, want nil", got.LastTest)
	}
	if _, err := s.GetDefault(context.Background(), in.WorkspaceID); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("GetDefault of a workspace without default: %v, want ErrNotFound", err)
	}
}

func testCreateDuplicate(t *testing.T, s destination.Store) {
	ctx := context.Background()
	ws := newWorkspace()
	def := Fixture(ws, "default", base)
	def.IsDefault = true
	def = create(t, s, def)
	in := create(t, s, Fixture(ws, "first", base))
	dup := Fixture(in.WorkspaceID, "second", base)
	dup.ID = in.ID
	dup.IsDefault = true
	_, err := s.Create(ctx, dup)
	wantErr(t, "Create with an existing ID", err, destination.ErrConflict)
	mustEqual(t, "default after a failed create with IsDefault", def, get(t, s, ws, def.ID))
	dup.WorkspaceID = newWorkspace()
	_, err = s.Create(ctx, dup)
	wantErr(t, "Create with an ID existing in another workspace", err, destination.ErrConflict)
	mustEqual(t, "stored integration after duplicate creates", in, get(t, s, in.WorkspaceID, in.ID))
	if l := list(t, s, dup.WorkspaceID); len(l) != 0 {
		t.Fatalf("other workspace lists %d integrations after a failed create, want 0", len(l))
	}
}

func testCreateInvalid(t *testing.T, s destination.Store) {
	ctx := context.Background()
	_, err := s.Create(ctx, nil)
	wantErr(t, "Create(nil)", err, destination.ErrInvalid)
	noID := Fixture(newWorkspace(), "x", base)
	noID.ID = ""
	_, err = s.Create(ctx, noID)
	wantErr(t, "Create without ID", err, destination.ErrInvalid)
	noWS := Fixture("", "x", base)
	_, err = s.Create(ctx, noWS)
	wantErr(t, "Create without workspace", err, destination.ErrInvalid)
	_, err = s.Update(ctx, nil)
	wantErr(t, "Update(nil)", err, destination.ErrInvalid)
	const plaintext = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	for _, f := range destination.AllSecretFields() {
		in := Fixture(newWorkspace(), "plaintext", base)
		in.Config.SetSecret(f, plaintext)
		_, err = s.Create(ctx, in)
		wantErr(t, "Create with plaintext "+string(f), err, destination.ErrInvalid)
		if strings.Contains(err.Error(), plaintext) {
			t.Fatalf("the error quotes the secret: %v", err)
		}
		ok := create(t, s, Fixture(in.WorkspaceID, "sealed", base))
		ok.Config.SetSecret(f, plaintext)
		_, err = s.Update(ctx, ok)
		wantErr(t, "Update with plaintext "+string(f), err, destination.ErrInvalid)
		if strings.Contains(err.Error(), plaintext) {
			t.Fatalf("the error quotes the secret: %v", err)
		}
		if err := s.Delete(ctx, ok.WorkspaceID, ok.ID); err != nil {
			t.Fatal(err)
		}
	}
	if page, err := s.Scan(ctx, "", 10); err != nil || len(page) != 0 {
		t.Fatalf("after invalid creates Scan = %d integrations, %v; want none", len(page), err)
	}
}

func testGetMissing(t *testing.T, s destination.Store) {
	ctx := context.Background()
	in := create(t, s, Fixture(newWorkspace(), "x", base))
	_, err := s.Get(ctx, in.WorkspaceID, newID())
	wantErr(t, "Get of a missing ID", err, destination.ErrNotFound)
	_, err = s.Get(ctx, in.WorkspaceID, "")
	wantErr(t, "Get of an empty ID", err, destination.ErrNotFound)
	_, err = s.Get(ctx, "", in.ID)
	wantErr(t, "Get with an empty workspace", err, destination.ErrNotFound)
}

func testUpdate(t *testing.T, s destination.Store) {
	ctx := context.Background()
	in := create(t, s, Fixture(newWorkspace(), "before", base))
	ch := in.Clone()
	ch.Name = "after"
	ch.IsActive = false
	ch.Provider = destination.R2
	ch.Config.Bucket = "other-bucket"
	ch.Config.PathPrefix = ""
	ch.Secrets = map[destination.SecretField]destination.Sealed{
		destination.SecretAccessKey: {Ciphertext: []byte("new"), KeyID: 7, Hint: "••••1234"},
	}
	ch.LastTest = nil                  // must be ignored: only SetLastTest writes it
	ch.CreatedAt = base.Add(time.Hour) // must be ignored
	ch.UpdatedAt = base.Add(time.Minute)
	out, err := s.Update(ctx, ch)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := stored(ch, 2)
	want.CreatedAt = in.CreatedAt
	want.LastTest = in.LastTest
	mustEqual(t, "Update result", want, out)
	mustEqual(t, "Get after Update", want, get(t, s, in.WorkspaceID, in.ID))

	// The returned value is good for the next update.
	out.LastTest = &destination.TestResult{OK: true, Code: "ok", TestedAt: base.Add(3 * time.Minute)}
	out2, err := s.Update(ctx, out)
	if err != nil {
		t.Fatalf("second Update: %v", err)
	}
	if out2.Version != 3 {
		t.Fatalf("version after two updates = %d, want 3", out2.Version)
	}
	want = stored(out, 3)
	want.LastTest = in.LastTest
	mustEqual(t, "Get after second Update", want, get(t, s, in.WorkspaceID, in.ID))
}

// testSetLastTest: the last test is written onto the tested version only, without changing the
// version or updatedAt; a result for an older version (a stale test) changes nothing.
func testSetLastTest(t *testing.T, s destination.Store) {
	ctx := context.Background()
	in := create(t, s, Fixture(newWorkspace(), "x", base))
	res := &destination.TestResult{OK: true, Code: "ok", Message: "fine", Warnings: []string{"w"}, TestedAt: base.Add(time.Hour), DurationMillis: 7}
	if err := s.SetLastTest(ctx, in.WorkspaceID, in.ID, in.Version, res); err != nil {
		t.Fatalf("SetLastTest: %v", err)
	}
	want := in.Clone()
	want.LastTest = res
	mustEqual(t, "after SetLastTest", want, get(t, s, in.WorkspaceID, in.ID))

	// A newer version: a result for the old one is stale.
	ch := get(t, s, in.WorkspaceID, in.ID)
	ch.Name = "renamed"
	next, err := s.Update(ctx, ch)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if Equal(&destination.Integration{LastTest: res}, &destination.Integration{LastTest: next.LastTest}) != "" {
		t.Fatalf("Update returned last test %+v, want the stored %+v", next.LastTest, res)
	}
	stale := &destination.TestResult{OK: false, Code: "permission_denied", TestedAt: base.Add(2 * time.Hour)}
	wantErr(t, "SetLastTest with the old version", s.SetLastTest(ctx, in.WorkspaceID, in.ID, in.Version, stale), destination.ErrConflict)
	mustEqual(t, "after a stale SetLastTest", next, get(t, s, in.WorkspaceID, in.ID))

	// Clearing; another workspace or a missing ID is not found.
	if err := s.SetLastTest(ctx, in.WorkspaceID, in.ID, next.Version, nil); err != nil {
		t.Fatalf("SetLastTest(nil): %v", err)
	}
	want = next.Clone()
	want.LastTest = nil
	mustEqual(t, "after clearing", want, get(t, s, in.WorkspaceID, in.ID))
	wantErr(t, "SetLastTest in another workspace", s.SetLastTest(ctx, newWorkspace(), in.ID, next.Version, res), destination.ErrNotFound)
	wantErr(t, "SetLastTest of a missing ID", s.SetLastTest(ctx, in.WorkspaceID, newID(), 1, res), destination.ErrNotFound)
}

func testUpdateStale(t *testing.T, s destination.Store) {
	ctx := context.Background()
	in := create(t, s, Fixture(newWorkspace(), "x", base))
	first := in.Clone()
	first.Name = "first"
	now, err := s.Update(ctx, first)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	for _, v := range []int64{in.Version, 0, now.Version + 1, -1} {
		stale := in.Clone()
		stale.Version = v
		stale.Name = "stale"
		stale.IsDefault = true
		_, err = s.Update(ctx, stale)
		wantErr(t, fmt.Sprintf("Update with version %d (stored %d)", v, now.Version), err, destination.ErrConflict)
	}
	mustEqual(t, "after stale updates", now, get(t, s, in.WorkspaceID, in.ID))
	if _, err := s.GetDefault(ctx, in.WorkspaceID); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("a stale update with IsDefault made a default: %v", err)
	}
}

func testUpdateMissing(t *testing.T, s destination.Store) {
	ctx := context.Background()
	in := Fixture(newWorkspace(), "x", base)
	in.Version = 1
	_, err := s.Update(ctx, in)
	wantErr(t, "Update of a missing integration", err, destination.ErrNotFound)
	if l := list(t, s, in.WorkspaceID); len(l) != 0 {
		t.Fatalf("Update of a missing integration created one")
	}
}

func testDelete(t *testing.T, s destination.Store) {
	ctx := context.Background()
	ws := newWorkspace()
	a := create(t, s, Fixture(ws, "a", base))
	b := create(t, s, Fixture(ws, "b", base.Add(time.Second)))
	if err := s.Delete(ctx, ws, a.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Get(ctx, ws, a.ID)
	wantErr(t, "Get after Delete", err, destination.ErrNotFound)
	wantErr(t, "second Delete", s.Delete(ctx, ws, a.ID), destination.ErrNotFound)
	wantErr(t, "Delete of a never-created ID", s.Delete(ctx, ws, newID()), destination.ErrNotFound)
	upd := a.Clone()
	_, err = s.Update(ctx, upd)
	wantErr(t, "Update after Delete", err, destination.ErrNotFound)
	l := list(t, s, ws)
	if len(l) != 1 || l[0].ID != b.ID {
		t.Fatalf("List after Delete = %v, want only %s", ids(l), b.ID)
	}
	// The ID may be reused after a delete.
	again := Fixture(ws, "a again", base)
	again.ID = a.ID
	create(t, s, again)
}

func testWorkspaceIsolation(t *testing.T, s destination.Store) {
	ctx := context.Background()
	wsA, wsB := newWorkspace(), newWorkspace()
	a := Fixture(wsA, "a", base)
	a.IsDefault = true
	a = create(t, s, a)
	b := Fixture(wsB, "b", base)
	b.IsDefault = true
	b = create(t, s, b)

	_, err := s.Get(ctx, wsB, a.ID)
	wantErr(t, "Get of another workspace's ID", err, destination.ErrNotFound)
	cross := a.Clone()
	cross.WorkspaceID = wsB
	cross.Name = "hijacked"
	_, err = s.Update(ctx, cross)
	wantErr(t, "Update of another workspace's ID", err, destination.ErrNotFound)
	wantErr(t, "Delete of another workspace's ID", s.Delete(ctx, wsB, a.ID), destination.ErrNotFound)

	mustEqual(t, "a after cross-workspace attempts", a, get(t, s, wsA, a.ID))
	mustEqual(t, "b after cross-workspace attempts", b, get(t, s, wsB, b.ID))
	for ws, want := range map[string]*destination.Integration{wsA: a, wsB: b} {
		l := list(t, s, ws)
		if len(l) != 1 || l[0].ID != want.ID {
			t.Fatalf("List(%s) = %v, want only %s", ws, ids(l), want.ID)
		}
		d, err := s.GetDefault(ctx, ws)
		if err != nil || d.ID != want.ID {
			t.Fatalf("GetDefault(%s) = %v, %v; want %s", ws, d, err, want.ID)
		}
	}
	if l := list(t, s, newWorkspace()); len(l) != 0 {
		t.Fatalf("an unknown workspace lists %d integrations", len(l))
	}
	_, err = s.GetDefault(ctx, newWorkspace())
	wantErr(t, "GetDefault of an unknown workspace", err, destination.ErrNotFound)
}

func testListOrder(t *testing.T, s destination.Store) {
	ws := newWorkspace()
	// Same CreatedAt for some (ordered by ID), created out of order.
	times := []time.Duration{3 * time.Second, 0, time.Second, time.Second, time.Microsecond, time.Second, 0}
	var created []*destination.Integration
	for i, d := range times {
		created = append(created, create(t, s, Fixture(ws, fmt.Sprintf("n%d", i), base.Add(d))))
	}
	create(t, s, Fixture(newWorkspace(), "elsewhere", base))
	want := slices.Clone(created)
	slices.SortFunc(want, func(a, b *destination.Integration) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	got := list(t, s, ws)
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("List order = %v, want %v", ids(got), ids(want))
	}
	for i := range want {
		mustEqual(t, "listed integration", want[i], got[i])
	}
}

func testDefaultOnCreate(t *testing.T, s destination.Store) {
	ctx := context.Background()
	ws := newWorkspace()
	other := Fixture(newWorkspace(), "other default", base)
	other.IsDefault = true
	other = create(t, s, other)

	a := Fixture(ws, "a", base)
	a.IsDefault = true
	a = create(t, s, a)
	plain := create(t, s, Fixture(ws, "plain", base))
	b := Fixture(ws, "b", base.Add(time.Second))
	b.IsDefault = true
	b = create(t, s, b)

	d, err := s.GetDefault(ctx, ws)
	if err != nil || d.ID != b.ID {
		t.Fatalf("GetDefault = %v, %v; want %s", d, err, b.ID)
	}
	mustEqual(t, "GetDefault result", b, d)
	ga := get(t, s, ws, a.ID)
	if ga.IsDefault || ga.Version != a.Version+1 {
		t.Fatalf("former default: IsDefault=%v version=%d, want false and %d", ga.IsDefault, ga.Version, a.Version+1)
	}
	mustEqual(t, "non-default after a new default", plain, get(t, s, ws, plain.ID))
	mustEqual(t, "another workspace's default", other, get(t, s, other.WorkspaceID, other.ID))
	assertOneDefault(t, s, ws, b.ID)
}

func testDefaultOnUpdate(t *testing.T, s destination.Store) {
	ctx := context.Background()
	ws := newWorkspace()
	a := Fixture(ws, "a", base)
	a.IsDefault = true
	a = create(t, s, a)
	b := create(t, s, Fixture(ws, "b", base))
	b.IsDefault = true
	b, err := s.Update(ctx, b)
	if err != nil {
		t.Fatalf("Update to default: %v", err)
	}
	assertOneDefault(t, s, ws, b.ID)
	ga := get(t, s, ws, a.ID)
	if ga.Version != a.Version+1 {
		t.Fatalf("cleared default version = %d, want %d", ga.Version, a.Version+1)
	}
	// The holder of the old version of a now conflicts.
	a.Name = "renamed"
	_, err = s.Update(ctx, a)
	wantErr(t, "Update of a cleared default with its old version", err, destination.ErrConflict)
	// Updating the default itself keeps it.
	b.Name = "still default"
	b, err = s.Update(ctx, b)
	if err != nil {
		t.Fatalf("Update of the default: %v", err)
	}
	assertOneDefault(t, s, ws, b.ID)
	// Unsetting the default leaves none.
	b.IsDefault = false
	if _, err = s.Update(ctx, b); err != nil {
		t.Fatalf("Update unsetting the default: %v", err)
	}
	assertOneDefault(t, s, ws, "")
}

func testDeleteDefault(t *testing.T, s destination.Store) {
	ctx := context.Background()
	ws := newWorkspace()
	create(t, s, Fixture(ws, "plain", base))
	d := Fixture(ws, "default", base)
	d.IsDefault = true
	d = create(t, s, d)
	if err := s.Delete(ctx, ws, d.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertOneDefault(t, s, ws, "")
}

// assertOneDefault checks that id is the workspace's only default ("" for none), through both
// List and GetDefault.
func assertOneDefault(t *testing.T, s destination.Store, ws, id string) {
	t.Helper()
	var defs []string
	for _, in := range list(t, s, ws) {
		if in.IsDefault {
			defs = append(defs, in.ID)
		}
	}
	want := []string{}
	if id != "" {
		want = []string{id}
	}
	if !slices.Equal(append([]string{}, defs...), want) {
		t.Fatalf("defaults in List = %v, want %v", defs, want)
	}
	d, err := s.GetDefault(context.Background(), ws)
	switch {
	case id == "" && !errors.Is(err, destination.ErrNotFound):
		t.Fatalf("GetDefault = %v, %v; want ErrNotFound", d, err)
	case id != "" && (err != nil || d.ID != id):
		t.Fatalf("GetDefault = %v, %v; want %s", d, err, id)
	}
}

const racers = 100

// watchDefaults lists ws until stop is closed and reports any moment with two defaults.
func watchDefaults(s destination.Store, ws string, stop <-chan struct{}) <-chan error {
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for {
			select {
			case <-stop:
				return
			default:
			}
			l, err := s.List(context.Background(), ws)
			if err != nil {
				errc <- fmt.Errorf("list during the race: %w", err)
				return
			}
			n := 0
			for _, in := range l {
				if in.IsDefault {
					n++
				}
			}
			if n > 1 {
				errc <- fmt.Errorf("a List during the race saw %d defaults", n)
				return
			}
		}
	}()
	return errc
}

// raceDefaults runs racers goroutines, released together, while watchDefaults checks that the
// workspace never shows two defaults; each racer's error fails the test. It then returns the
// workspace's default.
func raceDefaults(t *testing.T, s destination.Store, ws string, racer func(i int) error) *destination.Integration {
	t.Helper()
	stop := make(chan struct{})
	watch := watchDefaults(s, ws, stop)
	var wg sync.WaitGroup
	errs := make(chan error, racers)
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			if err := racer(i); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-watch; err != nil {
		t.Error(err)
	}
	d, err := s.GetDefault(context.Background(), ws)
	if err != nil {
		t.Fatalf("GetDefault after the race: %v", err)
	}
	return d
}

func testConcurrentDefaults(t *testing.T, s destination.Store) {
	ctx := context.Background()
	ws := newWorkspace()
	var all []*destination.Integration
	for i := range racers {
		all = append(all, create(t, s, Fixture(ws, fmt.Sprintf("r%d", i), base.Add(time.Duration(i)*time.Microsecond))))
	}
	d := raceDefaults(t, s, ws, func(i int) error {
		in := all[i]
		// A racer retries only when its own row moved under it.
		for attempt := 0; ; attempt++ {
			cur, err := s.Get(ctx, ws, in.ID)
			if err != nil {
				return err
			}
			cur.IsDefault = true
			_, err = s.Update(ctx, cur)
			if err == nil {
				return nil
			}
			if !errors.Is(err, destination.ErrConflict) || attempt == 20 {
				return fmt.Errorf("set default %s: %w", in.Name, err)
			}
		}
	})
	assertOneDefault(t, s, ws, d.ID)
}

func testConcurrentDefaultCreates(t *testing.T, s destination.Store) {
	ctx := context.Background()
	ws := newWorkspace()
	d := raceDefaults(t, s, ws, func(i int) error {
		in := Fixture(ws, fmt.Sprintf("c%d", i), base)
		in.IsDefault = true
		if _, err := s.Create(ctx, in); err != nil {
			return fmt.Errorf("create default %d: %w", i, err)
		}
		return nil
	})
	if n := len(list(t, s, ws)); n != racers {
		t.Fatalf("%d integrations after %d concurrent creates", n, racers)
	}
	assertOneDefault(t, s, ws, d.ID)
}

func testConcurrentUpdatesOneWins(t *testing.T, s destination.Store) {
	ctx := context.Background()
	in := create(t, s, Fixture(newWorkspace(), "contended", base))
	const writers = 20
	var wg sync.WaitGroup
	results := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			c := in.Clone()
			c.Name = fmt.Sprintf("writer %d", i)
			_, err := s.Update(ctx, c)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, destination.ErrConflict):
			t.Errorf("concurrent Update: %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d updates from the same version succeeded, want 1", wins, writers)
	}
	if got := get(t, s, in.WorkspaceID, in.ID); got.Version != 2 {
		t.Fatalf("version = %d, want 2", got.Version)
	}
}

func testScan(t *testing.T, s destination.Store) {
	ctx := context.Background()
	var all []string
	for w := range 3 {
		ws := newWorkspace()
		for i := range 8 {
			all = append(all, create(t, s, Fixture(ws, fmt.Sprintf("w%d-%d", w, i), base)).ID)
		}
	}
	slices.Sort(all)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		page, err := s.Scan(ctx, after, 7)
		if err != nil {
			t.Fatalf("Scan(%q): %v", after, err)
		}
		if len(page) > 7 {
			t.Fatalf("Scan returned %d integrations, limit 7", len(page))
		}
		if len(page) == 0 || pages > 10 {
			break
		}
		got = append(got, ids(page)...)
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, all) {
		t.Fatalf("Scan pages = %v, want %v", got, all)
	}
	page, err := s.Scan(ctx, all[10], 3)
	if err != nil || !slices.Equal(ids(page), all[11:14]) {
		t.Fatalf("Scan(after %s, 3) = %v, %v; want %v", all[10], ids(page), err, all[11:14])
	}
	for _, limit := range []int{0, -1} {
		if page, err := s.Scan(ctx, "", limit); err != nil || len(page) != 0 {
			t.Fatalf("Scan with limit %d = %d integrations, %v; want none", limit, len(page), err)
		}
	}
}

// ScanByteOrder checks that Scan orders IDs in byte order (as Go compares strings), not by a
// collation: upper case before lower case, punctuation by its byte value, so a sweep that
// advances its cursor in Go visits every integration once. Run includes it; it is exported to
// run on its own against databases of other collations.
func ScanByteOrder(t *testing.T, s destination.Store) {
	ctx := context.Background()
	ws := newWorkspace()
	tag := newID()[:8]
	var all []string
	for _, suffix := range []string{"b", "B", "a", "A", "a-b", "ab", "a_b", "aB", "Ab", "é", "e", "Z", "z", "10", "9", "-"} {
		in := Fixture(ws, suffix, base)
		in.ID = "scan-" + tag + "-" + suffix
		all = append(all, create(t, s, in).ID)
	}
	slices.Sort(all)
	var got []string
	after := "scan-" + tag + "-" // sorts before all of them, after every other test's IDs of this form
	for range len(all) + 1 {
		page, err := s.Scan(ctx, after, 3)
		if err != nil {
			t.Fatalf("Scan(%q): %v", after, err)
		}
		for _, in := range page {
			if in.WorkspaceID == ws {
				got = append(got, in.ID)
			}
			after = max(after, in.ID) // the cursor advances in Go's order
		}
		if len(page) < 3 {
			break
		}
	}
	if !slices.Equal(got, all) {
		t.Fatalf("Scan order %q, want byte order %q", got, all)
	}
}

func testCopySemantics(t *testing.T, s destination.Store) {
	ctx := context.Background()
	ws := newWorkspace()
	in := Fixture(ws, "original", base)
	in.IsDefault = true
	want := stored(in, 1)
	out, err := s.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	mutate(in)
	mutate(out)
	mustEqual(t, "after mutating Create's input and output", want, get(t, s, ws, want.ID))

	for name, read := range map[string]func() *destination.Integration{
		"Get":        func() *destination.Integration { return get(t, s, ws, want.ID) },
		"List":       func() *destination.Integration { return list(t, s, ws)[0] },
		"GetDefault": func() *destination.Integration { d, _ := s.GetDefault(ctx, ws); return d },
		"Scan":       func() *destination.Integration { p, _ := s.Scan(ctx, "", 1); return p[0] },
	} {
		mutate(read())
		mustEqual(t, "after mutating the result of "+name, want, get(t, s, ws, want.ID))
	}

	upd := get(t, s, ws, want.ID)
	upd.Name = "updated"
	want = stored(upd, 2)
	out, err = s.Update(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	mutate(upd)
	mutate(out)
	mustEqual(t, "after mutating Update's input and output", want, get(t, s, ws, want.ID))
}

// mutate changes every mutable part of in, in place.
func mutate(in *destination.Integration) {
	in.Name += " mutated"
	in.IsDefault = !in.IsDefault
	in.Config.Bucket = "mutated"
	in.Version += 100
	for k, v := range in.Secrets {
		if len(v.Ciphertext) > 0 {
			v.Ciphertext[0] ^= 0xff
		}
		v.Hint = "mutated"
		in.Secrets[k] = v
	}
	if in.Secrets != nil {
		in.Secrets[destination.SecretGCSServiceAcct] = destination.Sealed{Ciphertext: []byte("added")}
	}
	if in.LastTest != nil {
		in.LastTest.Code = "mutated"
		for i := range in.LastTest.Warnings {
			in.LastTest.Warnings[i] = "mutated"
		}
	}
}

func testStringsRoundTrip(t *testing.T, s destination.Store) {
	ws := `ws'; DROP TABLE workspace_integrations; --` + newID()
	nasty := []string{
		`'`, `"`, `\`, `';--`, `" OR "1"="1`, `'); DELETE FROM workspace_integrations; --`,
		`$1`, `?`, `%_`, "tab\there\nnewline", "ünïcødé ✓ 日本語 🎬", `{"json":"value"}`, strings.Repeat("é", 300),
	}
	var created []*destination.Integration
	for i, v := range nasty {
		in := Fixture(ws, v, base.Add(time.Duration(i)*time.Second))
		in.Config.Bucket = v
		in.Config.PathPrefix = v
		in.Config.DriveFolderID = v
		in.Secrets[destination.SecretField(v)] = destination.Sealed{Ciphertext: []byte(v), KeyID: uint32(i), Hint: v}
		in.LastTest.Message = v
		in.LastTest.Code = v
		in.LastTest.Warnings = []string{v, ""}
		created = append(created, create(t, s, in))
	}
	got := list(t, s, ws)
	if len(got) != len(nasty) {
		t.Fatalf("List = %d integrations, want %d", len(got), len(nasty))
	}
	for i := range got {
		mustEqual(t, "integration with special strings", created[i], got[i])
	}
	_, err := s.Get(context.Background(), ws, `' OR '1'='1`)
	wantErr(t, "Get with an injected ID", err, destination.ErrNotFound)
	if l := list(t, s, `' OR '1'='1`); len(l) != 0 {
		t.Fatalf("List with an injected workspace returned %d integrations", len(l))
	}
}

func testCanceledContext(t *testing.T, s destination.Store) {
	in := create(t, s, Fixture(newWorkspace(), "x", base))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Get(ctx, in.WorkspaceID, in.ID)
	wantErr(t, "Get with a canceled context", err, context.Canceled)
	_, err = s.List(ctx, in.WorkspaceID)
	wantErr(t, "List with a canceled context", err, context.Canceled)
	c := in.Clone()
	c.Name = "canceled"
	_, err = s.Update(ctx, c)
	wantErr(t, "Update with a canceled context", err, context.Canceled)
	_, err = s.Create(ctx, Fixture(in.WorkspaceID, "y", base))
	wantErr(t, "Create with a canceled context", err, context.Canceled)
	wantErr(t, "Delete with a canceled context", s.Delete(ctx, in.WorkspaceID, in.ID), context.Canceled)
	_, err = s.GetDefault(ctx, in.WorkspaceID)
	wantErr(t, "GetDefault with a canceled context", err, context.Canceled)
	_, err = s.Scan(ctx, "", 10)
	wantErr(t, "Scan with a canceled context", err, context.Canceled)
	mustEqual(t, "after canceled calls", in, get(t, s, in.WorkspaceID, in.ID))
	if l := list(t, s, in.WorkspaceID); len(l) != 1 {
		t.Fatalf("after canceled calls List = %d integrations, want 1", len(l))
	}
}

func ids(l []*destination.Integration) []string {
	out := make([]string, len(l))
	for i, in := range l {
		out[i] = in.ID
	}
	return out
}
