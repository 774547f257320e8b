package crypto_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
)

var secret2KiB = bytes.Repeat([]byte("0123456789abcdef"), 128)

// measureCPU pins the benchmark to its OS thread and returns a function that, called after the
// b.Loop loop, reports the thread's CPU time per op as "cpu-ns/op".
func measureCPU(b *testing.B) func() {
	runtime.LockOSThread()
	start, ok := threadCPUNanos()
	return func() {
		end, ok2 := threadCPUNanos()
		runtime.UnlockOSThread()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkSealOpen2KiB seals and opens a 2 KiB secret through the Keyring (issue 2's target:
// ≤ 5 µs/op).
func BenchmarkSealOpen2KiB(b *testing.B) {
	k := newKeyring(b)
	ad := crypto.SecretAD("ws_123", "018f3c2a-0000-7000-8000-000000000001", destination.SecretGCSServiceAcct)
	b.SetBytes(int64(len(secret2KiB)))
	b.ReportAllocs()
	defer measureCPU(b)()
	for b.Loop() {
		ct, err := k.Seal(secret2KiB, ad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Open(ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawTinkSealOpen2KiB is the same work on a bare tink-go AEAD primitive: the floor the
// Keyring adds its atomic load and error mapping to.
func BenchmarkRawTinkSealOpen2KiB(b *testing.B) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		b.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		b.Fatal(err)
	}
	ad := crypto.SecretAD("ws_123", "018f3c2a-0000-7000-8000-000000000001", destination.SecretGCSServiceAcct)
	b.SetBytes(int64(len(secret2KiB)))
	b.ReportAllocs()
	defer measureCPU(b)()
	for b.Loop() {
		ct, err := a.Encrypt(secret2KiB, ad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Decrypt(ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealOpen2KiBParallel measures contention on the shared primitive.
func BenchmarkSealOpen2KiBParallel(b *testing.B) {
	k := newKeyring(b)
	ad := crypto.SecretAD("ws_123", "018f3c2a-0000-7000-8000-000000000001", destination.SecretGCSServiceAcct)
	b.SetBytes(int64(len(secret2KiB)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ct, err := k.Seal(secret2KiB, ad)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := k.Open(ct, ad); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUnseal opens the secret of an S3 integration (a 40-character key), as the provider
// does before building each client.
func BenchmarkUnseal(b *testing.B) {
	ctx := context.Background()
	k := newKeyring(b)
	in := integration("ws_123", "018f3c2a-0000-7000-8000-000000000001", destination.S3)
	sealAll(b, k, in, map[destination.SecretField]string{destination.SecretAccessKey: testS3Secret})
	b.ReportAllocs()
	defer measureCPU(b)()
	for b.Loop() {
		if _, err := k.Unseal(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnsealGCS opens a GCS integration's service-account JSON (about 2.3 KB in real keys).
func BenchmarkUnsealGCS(b *testing.B) {
	ctx := context.Background()
	k := newKeyring(b)
	in := integration("ws_123", "018f3c2a-0000-7000-8000-000000000001", destination.GCS)
	sa := testServiceAcct[:len(testServiceAcct)-1] + `,"pad":"` + string(secret2KiB) + `"}`
	sealAll(b, k, in, map[destination.SecretField]string{destination.SecretGCSServiceAcct: sa})
	b.ReportAllocs()
	defer measureCPU(b)()
	for b.Loop() {
		if _, err := k.Unseal(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
