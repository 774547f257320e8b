package crypto_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
)

// fill creates n integrations spread over 3 workspaces, each with its provider's secret sealed
// by k, and returns the plaintext secret of each by ID.
func fill(t *testing.T, st destination.Store, k *crypto.Keyring, n int) map[string]string {
	t.Helper()
	ctx := context.Background()
	providers := []destination.Provider{destination.S3, destination.GCS, destination.Azure, destination.Drive}
	want := map[string]string{}
	created := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	for i := range n {
		p := providers[i%len(providers)]
		in := integration(fmt.Sprintf("ws-%d", i%3), fmt.Sprintf("int-%04d", i), p)
		in.CreatedAt, in.UpdatedAt = created, created
		secret := fmt.Sprintf("secret-%04d-%s", i, p)
		sealAll(t, k, in, map[destination.SecretField]string{destination.SecretFields(p)[0]: secret})
		if _, err := st.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
		want[in.ID] = secret
	}
	return want
}

// rotatedStore returns a keyring and a store of n integrations (see fill) whose secrets were all
// sealed by the keyring's previous primary key.
func rotatedStore(t *testing.T, n int) (*crypto.Keyring, *hookStore, map[string]string) {
	t.Helper()
	k := newKeyring(t)
	st := newStore()
	want := fill(t, st, k, n)
	rotate(t, k)
	return k, st, want
}

// rotate adds and promotes a key, returning the old primary.
func rotate(t *testing.T, k *crypto.Keyring) (old uint32) {
	t.Helper()
	old = k.PrimaryKeyID()
	id, err := k.AddKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Promote(id); err != nil {
		t.Fatal(err)
	}
	return old
}

// checkAll verifies that every integration's secret is sealed by the primary and opens to want.
func checkAll(t *testing.T, st destination.Store, k *crypto.Keyring, want map[string]string) []*destination.Integration {
	t.Helper()
	all, err := st.Scan(context.Background(), "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("%d integrations, want %d", len(all), len(want))
	}
	for _, in := range all {
		for f, s := range in.Secrets {
			if id, _ := crypto.KeyIDOf(s.Ciphertext); id != k.PrimaryKeyID() || s.KeyID != id {
				t.Fatalf("%s %s: sealed by %d (KeyID %d), want primary %d", in.ID, f, id, s.KeyID, k.PrimaryKeyID())
			}
			got, err := k.OpenSecret(in, f)
			if err != nil || got != want[in.ID] {
				t.Fatalf("%s %s: %q, %v; want %q", in.ID, f, got, err, want[in.ID])
			}
			if s.Hint != crypto.Hint(f, want[in.ID]) {
				t.Fatalf("%s: hint %q changed", in.ID, s.Hint)
			}
		}
	}
	return all
}

func TestReencrypt(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t)
	st := newStore()
	want := fill(t, st, k, 250)
	plain := integration("ws-0", "int-9999", destination.Drive) // not connected yet: no secrets
	plain.UpdatedAt = time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	if _, err := st.Create(ctx, plain); err != nil {
		t.Fatal(err)
	}
	want[plain.ID] = ""
	old := rotate(t, k)

	stats, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{PageSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Scanned != 251 || stats.Rewritten != 250 || stats.SecretsResealed != 250 || len(stats.Failures) != 0 || stats.ConflictsRetried != 0 {
		t.Fatalf("stats = %+v", stats)
	}
	if stats.LastID != "int-9999" {
		t.Errorf("LastID = %q", stats.LastID)
	}
	all := checkAll(t, st, k, want)
	for _, in := range all {
		wantVersion := int64(2)
		if in.ID == plain.ID {
			wantVersion = 1
		}
		if in.Version != wantVersion || in.Name != "n" || !in.UpdatedAt.Equal(time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)) {
			t.Fatalf("%s: version %d, name %q, updatedAt %v", in.ID, in.Version, in.Name, in.UpdatedAt)
		}
	}

	// Re-runnable: a second sweep writes nothing.
	stats, err = crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{PageSize: 7})
	if err != nil || stats.Scanned != 251 || stats.Rewritten != 0 {
		t.Fatalf("second sweep: %+v, %v", stats, err)
	}
	// The old key is no longer needed.
	if err := k.Disable(old); err != nil {
		t.Fatal(err)
	}
	checkAll(t, st, k, want)

	// Resuming after an ID scans only what follows it.
	stats, err = crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{After: "int-0199"})
	if err != nil || stats.Scanned != 51 {
		t.Fatalf("resumed sweep: %+v, %v", stats, err)
	}
}

// TestReencryptCorruptRows: rows that do not open are reported by ID; the sweep goes on.
func TestReencryptCorruptRows(t *testing.T) {
	ctx := context.Background()
	k, st, want := rotatedStore(t, 30)

	// int-0007: tampered ciphertext. int-0013: sealed by a keyring we do not hold.
	// int-0021: ciphertext moved from another row.
	corrupt := func(id string, change func(in *destination.Integration)) {
		in, err := st.Get(ctx, fmt.Sprintf("ws-%d", mustAtoi(id)%3), id)
		if err != nil {
			t.Fatal(err)
		}
		change(in)
		if _, err := st.Update(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	corrupt("int-0007", func(in *destination.Integration) {
		s := in.Secrets[destination.SecretFields(in.Provider)[0]]
		s.Ciphertext[len(s.Ciphertext)/2] ^= 0x40
	})
	corrupt("int-0013", func(in *destination.Integration) {
		sealAll(t, newKeyring(t), in, map[destination.SecretField]string{destination.SecretFields(in.Provider)[0]: "x"})
	})
	donor, _ := st.Get(ctx, "ws-0", "int-0000")
	corrupt("int-0021", func(in *destination.Integration) { in.Secrets = donor.Secrets })

	stats, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{PageSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Scanned != 30 || stats.Rewritten != 27 || len(stats.Failures) != 3 {
		t.Fatalf("stats = %+v", stats)
	}
	for i, id := range []string{"int-0007", "int-0013", "int-0021"} {
		f := stats.Failures[i]
		if f.IntegrationID != id || f.WorkspaceID != fmt.Sprintf("ws-%d", mustAtoi(id)%3) {
			t.Errorf("failure %d = %+v, want %s", i, f, id)
		}
		if !errors.Is(f.Err, destination.ErrSecretUnavailable) || !errors.Is(f.Err, crypto.ErrDecrypt) {
			t.Errorf("failure %s: err = %v", id, f.Err)
		}
		delete(want, id)
	}
	checkAllExcept(t, st, k, want)
}

// checkAllExcept is checkAll over the integrations in want only.
func checkAllExcept(t *testing.T, st destination.Store, k *crypto.Keyring, want map[string]string) {
	t.Helper()
	sub := newStore()
	all, err := st.Scan(context.Background(), "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range all {
		if _, ok := want[in.ID]; ok {
			if _, err := sub.Create(context.Background(), in); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkAll(t, sub, k, want)
}

func mustAtoi(id string) int {
	var n int
	if _, err := fmt.Sscanf(id, "int-%d", &n); err != nil {
		panic(err)
	}
	return n
}

// TestReencryptConflict: a writer updates an integration between the sweep's read and its write.
// The sweep's update fails its version check, it re-reads and reseals, and the writer's change
// survives.
func TestReencryptConflict(t *testing.T) {
	ctx := context.Background()
	k, st, want := rotatedStore(t, 10)

	var fired atomic.Bool
	st.beforeUpdate = func(in *destination.Integration) {
		if in.ID != "int-0004" || !fired.CompareAndSwap(false, true) {
			return
		}
		cur, err := st.Get(ctx, in.WorkspaceID, in.ID)
		if err != nil {
			t.Error(err)
			return
		}
		cur.Name = "renamed concurrently"
		if _, err := st.Update(ctx, cur); err != nil {
			t.Error(err)
		}
	}
	stats, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if stats.ConflictsRetried != 1 || stats.Rewritten != 10 || len(stats.Failures) != 0 {
		t.Fatalf("stats = %+v", stats)
	}
	checkAll(t, st, k, want)
	got, _ := st.Get(ctx, "ws-1", "int-0004")
	if got.Name != "renamed concurrently" || got.Version != 3 {
		t.Fatalf("concurrent update clobbered: name %q, version %d", got.Name, got.Version)
	}
}

// TestReencryptEndlessConflicts: retries are bounded, and the integration is reported.
func TestReencryptEndlessConflicts(t *testing.T) {
	ctx := context.Background()
	k, st, _ := rotatedStore(t, 3)
	st.beforeUpdate = func(in *destination.Integration) {
		if in.ID != "int-0001" || in.Name == "bump" {
			return
		}
		cur, _ := st.Get(ctx, in.WorkspaceID, in.ID)
		cur.Name = "bump"
		if _, err := st.Update(ctx, cur); err != nil {
			t.Error(err)
		}
	}
	stats, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{MaxRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Every sweep write to int-0001 carries the name it read; the hook renames it "bump" only when
	// that name is not "bump" yet, so the first attempt conflicts and the retry succeeds.
	if stats.ConflictsRetried != 1 || stats.Rewritten != 3 {
		t.Fatalf("stats = %+v", stats)
	}

	// Now a writer that always wins.
	rotate(t, k)
	var inHook atomic.Bool
	st.beforeUpdate = func(in *destination.Integration) {
		if in.ID != "int-0001" || inHook.Load() {
			return
		}
		inHook.Store(true)
		defer inHook.Store(false)
		cur, _ := st.Get(ctx, in.WorkspaceID, in.ID)
		cur.Name += "+"
		if _, err := st.Update(ctx, cur); err != nil {
			t.Error(err)
		}
	}
	stats, err = crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{MaxRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if stats.ConflictsRetried != 3 || stats.Rewritten != 2 || len(stats.Failures) != 1 ||
		stats.Failures[0].IntegrationID != "int-0001" || !errors.Is(stats.Failures[0].Err, destination.ErrConflict) {
		t.Fatalf("stats = %+v", stats)
	}
}

// TestReencryptDeletedMeanwhile: an integration deleted during the sweep is skipped silently.
func TestReencryptDeletedMeanwhile(t *testing.T) {
	ctx := context.Background()
	k, st, _ := rotatedStore(t, 5)
	st.beforeUpdate = func(in *destination.Integration) {
		if in.ID == "int-0002" {
			_ = st.Delete(ctx, in.WorkspaceID, in.ID)
		}
	}
	stats, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{})
	if err != nil || stats.Rewritten != 4 || len(stats.Failures) != 0 {
		t.Fatalf("stats = %+v, %v", stats, err)
	}
}

// TestReencryptRacingUpdater runs the sweep while a writer keeps renaming integrations and
// replacing secrets through the Store (get, change, update; retry on conflict), as the Service
// does. Afterwards every secret is under the primary key and every write the updater made
// survived. Run under -race.
func TestReencryptRacingUpdater(t *testing.T) {
	ctx := context.Background()
	const n = 120
	k, st, want := rotatedStore(t, n)

	var mu sync.Mutex // guards want and names
	names := map[string]string{}
	var updates atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("int-%04d", r.IntN(n))
				ws := fmt.Sprintf("ws-%d", mustAtoi(id)%3)
				for {
					cur, err := st.Get(ctx, ws, id)
					if err != nil {
						t.Error(err)
						return
					}
					cur.Name = fmt.Sprintf("w%d-%d", w, i)
					secret := ""
					if i%3 == 0 { // replace the secret too, sealed by the current primary
						f := destination.SecretFields(cur.Provider)[0]
						secret = fmt.Sprintf("new-secret-w%d-%d", w, i)
						s, err := k.SealSecret(ctx, cur, f, secret)
						if err != nil {
							t.Error(err)
							return
						}
						cur.Secrets[f] = s
					}
					mu.Lock() // hold across the write so the record matches the commit order
					_, err = st.Update(ctx, cur)
					if err == nil {
						updates.Add(1)
						names[id] = cur.Name
						if secret != "" {
							want[id] = secret
						}
					}
					mu.Unlock()
					if err == nil {
						break
					}
					if !errors.Is(err, destination.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); updates.Load() < 10 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // let the writers get going first
	}
	rewritten, conflicts := 0, 0
	for range 3 { // the sweep is short; run it a few times against the writers
		stats, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{PageSize: 16, MaxRetries: 50})
		if err != nil || len(stats.Failures) != 0 {
			t.Fatalf("stats = %+v, %v", stats, err)
		}
		rewritten, conflicts = rewritten+stats.Rewritten, conflicts+stats.ConflictsRetried
	}
	close(stop)
	wg.Wait()
	t.Logf("sweeps rewrote %d integrations and retried %d conflicts; writers made %d updates", rewritten, conflicts, updates.Load())
	// Each row was rewritten by a sweep, and a writer can only write what it read after that
	// (the version check refuses older reads) or a secret it sealed with the primary: nothing is
	// stale any more.
	final, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{})
	if err != nil || final.Rewritten != 0 {
		t.Fatalf("final sweep rewrote %d: %+v, %v", final.Rewritten, final, err)
	}
	all := checkAll(t, st, k, want)
	for _, in := range all {
		if w, ok := names[in.ID]; ok && in.Name != w {
			t.Fatalf("%s: name %q, want the updater's last write %q", in.ID, in.Name, w)
		}
	}
}

func TestReencryptCancelled(t *testing.T) {
	k, st, _ := rotatedStore(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// TestReencryptStoreErrors: a failing update is reported and the sweep goes on; a failing scan
// ends the sweep with the stats so far, and a rerun from LastID finishes it.
func TestReencryptStoreErrors(t *testing.T) {
	ctx := context.Background()
	k, st, want := rotatedStore(t, 12)
	errDown := errors.New("database is down")
	st.failUpdate = func(in *destination.Integration) error {
		if in.ID == "int-0003" {
			return errDown
		}
		return nil
	}
	st.failScan = func(after string) error {
		if after == "int-0007" {
			return errDown
		}
		return nil
	}
	stats, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{PageSize: 4})
	if !errors.Is(err, errDown) || stats.Scanned != 8 || stats.Rewritten != 7 || stats.LastID != "int-0007" ||
		len(stats.Failures) != 1 || stats.Failures[0].IntegrationID != "int-0003" || !errors.Is(stats.Failures[0].Err, errDown) {
		t.Fatalf("stats = %+v, %v", stats, err)
	}
	st.failUpdate, st.failScan = nil, nil
	rest, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{After: stats.LastID})
	if err != nil || rest.Scanned != 4 || rest.Rewritten != 4 {
		t.Fatalf("resumed: %+v, %v", rest, err)
	}
	again, err := crypto.Reencrypt(ctx, st, k, crypto.ReencryptOptions{})
	if err != nil || again.Rewritten != 1 { // int-0003, whose update failed
		t.Fatalf("rerun: %+v, %v", again, err)
	}
	checkAll(t, st, k, want)
	if _, err := crypto.Reencrypt(ctx, nil, k, crypto.ReencryptOptions{}); err == nil {
		t.Fatal("nil store: no error")
	}
}
