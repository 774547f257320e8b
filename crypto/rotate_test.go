package crypto_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ilovevideoeditor/outputs/crypto"
)

func TestRotation(t *testing.T) {
	k := newKeyring(t)
	k1 := k.PrimaryKeyID()
	ad := []byte("ad")
	old, err := k.Seal([]byte("old secret"), ad)
	if err != nil {
		t.Fatal(err)
	}

	k2, err := k.AddKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.PrimaryKeyID() != k1 {
		t.Fatal("AddKey changed the primary")
	}
	want := fmt.Sprint([]crypto.KeyInfo{{k1, crypto.KeyEnabled, true}, {k2, crypto.KeyEnabled, false}})
	if got := fmt.Sprint(k.Keys()); got != want {
		t.Fatalf("Keys = %s, want %s", got, want)
	}
	// Added but not promoted: still sealing with k1.
	if ct, _ := k.Seal([]byte("x"), ad); mustKeyID(t, ct) != k1 {
		t.Fatal("sealed with a non-primary key")
	}

	if err := k.Promote(k2); err != nil {
		t.Fatal(err)
	}
	if k.PrimaryKeyID() != k2 {
		t.Fatalf("primary = %d, want %d", k.PrimaryKeyID(), k2)
	}
	fresh, err := k.Seal([]byte("new secret"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if mustKeyID(t, fresh) != k2 || mustKeyID(t, old) != k1 {
		t.Fatal("KeyIDOf does not report the sealing key")
	}
	if pt, err := k.Open(old, ad); err != nil || string(pt) != "old secret" {
		t.Fatalf("old ciphertext after promote: %q, %v", pt, err)
	}

	// The old primary can now be disabled: its ciphertexts stop opening, until enabled again.
	if err := k.Disable(k2); !errors.Is(err, crypto.ErrPrimaryKey) {
		t.Fatalf("Disable(primary): err = %v, want ErrPrimaryKey", err)
	}
	if err := k.Disable(k1); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(old, ad); !errors.Is(err, crypto.ErrDecrypt) {
		t.Fatalf("Open with disabled key: err = %v", err)
	}
	if pt, err := k.Open(fresh, ad); err != nil || string(pt) != "new secret" {
		t.Fatalf("Open(fresh) = %q, %v", pt, err)
	}
	if err := k.Promote(k1); !errors.Is(err, crypto.ErrKeyState) {
		t.Fatalf("Promote(disabled): err = %v, want ErrKeyState", err)
	}
	if err := k.Enable(k1); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(old, ad); err != nil {
		t.Fatalf("Open after Enable: %v", err)
	}

	// Unknown keys, and deletion.
	for name, err := range map[string]error{
		"promote": k.Promote(12345), "disable": k.Disable(12345), "enable": k.Enable(12345), "delete": k.Delete(12345),
	} {
		if !errors.Is(err, crypto.ErrUnknownKey) {
			t.Errorf("%s unknown key: err = %v, want ErrUnknownKey", name, err)
		}
	}
	if err := k.Delete(k2); !errors.Is(err, crypto.ErrPrimaryKey) {
		t.Fatalf("Delete(primary): err = %v", err)
	}
	if err := k.Delete(k1); err != nil {
		t.Fatal(err)
	}
	if len(k.Keys()) != 1 {
		t.Fatalf("Keys after delete = %v", k.Keys())
	}
	if _, err := k.Open(old, ad); !errors.Is(err, crypto.ErrDecrypt) {
		t.Fatalf("Open with deleted key: err = %v", err)
	}
}

func mustKeyID(t *testing.T, ct []byte) uint32 {
	t.Helper()
	id, ok := crypto.KeyIDOf(ct)
	if !ok {
		t.Fatal("no TINK prefix")
	}
	return id
}

// TestConcurrentRotation seals and opens from many goroutines while another adds and promotes
// keys; run under -race. Every ciphertext must open, whichever key sealed it.
func TestConcurrentRotation(t *testing.T) {
	k := newKeyring(t)
	const workers, perWorker, rotations = 8, 200, 20
	var wg sync.WaitGroup
	var done atomic.Bool
	errs := make(chan error, workers+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		for range rotations {
			id, err := k.AddKey()
			if err == nil {
				err = k.Promote(id)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sealed [][]byte
			for i := 0; i < perWorker || !done.Load(); i++ {
				pt := fmt.Appendf(nil, "secret-%d-%d", w, i)
				ct, err := k.Seal(pt, pt)
				if err != nil {
					errs <- err
					return
				}
				if got, err := k.Open(ct, pt); err != nil || string(got) != string(pt) {
					errs <- fmt.Errorf("open right after seal %d/%d: %q, %v", w, i, got, err)
					return
				}
				sealed = append(sealed, ct)
				_ = k.PrimaryKeyID()
				_ = k.Keys()
			}
			for i, ct := range sealed {
				pt := fmt.Appendf(nil, "secret-%d-%d", w, i)
				if got, err := k.Open(ct, pt); err != nil || string(got) != string(pt) {
					errs <- fmt.Errorf("open %d/%d: %q, %v", w, i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(k.Keys()); n != rotations+1 {
		t.Fatalf("%d keys, want %d", n, rotations+1)
	}
}
