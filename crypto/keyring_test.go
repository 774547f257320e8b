package crypto_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/mac"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
)

func newKeyring(t testing.TB) *crypto.Keyring {
	t.Helper()
	k, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newKEK returns a local key-encryption key, standing in for a cloud KMS AEAD.
func newKEK(t testing.TB) tink.AEAD {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := newKeyring(t)
	ad := []byte("row-1")
	for _, pt := range [][]byte{nil, {}, []byte("x"), []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), bytes.Repeat([]byte{0xff}, 64<<10)} {
		ct, err := k.Seal(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) >= 8 && bytes.Contains(ct, pt) { // shorter plaintexts occur in random bytes by chance
			t.Fatal("ciphertext contains the plaintext")
		}
		id, ok := crypto.KeyIDOf(ct)
		if !ok || id != k.PrimaryKeyID() {
			t.Fatalf("KeyIDOf = %d, %v; want primary %d", id, ok, k.PrimaryKeyID())
		}
		got, err := k.Open(ct, ad)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, want %q", got, pt)
		}
	}
	// Sealing twice gives different ciphertexts (random nonce).
	a, _ := k.Seal([]byte("same"), ad)
	b, _ := k.Seal([]byte("same"), ad)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestOpenFailures(t *testing.T) {
	k := newKeyring(t)
	ct, err := k.Seal([]byte("secret"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 1
	other := newKeyring(t) // another keyset: the "wrong keyset" case
	cases := map[string]func() ([]byte, error){
		"wrong AD":       func() ([]byte, error) { return k.Open(ct, []byte("other")) },
		"no AD":          func() ([]byte, error) { return k.Open(ct, nil) },
		"tampered":       func() ([]byte, error) { return k.Open(flipped, []byte("ad")) },
		"truncated":      func() ([]byte, error) { return k.Open(ct[:10], []byte("ad")) },
		"empty":          func() ([]byte, error) { return k.Open(nil, []byte("ad")) },
		"wrong keyset":   func() ([]byte, error) { return other.Open(ct, []byte("ad")) },
		"prefix only":    func() ([]byte, error) { return k.Open(ct[:5], []byte("ad")) },
		"garbage prefix": func() ([]byte, error) { return k.Open(append([]byte{0x01, 0, 0, 0, 1}, ct[5:]...), []byte("ad")) },
	}
	for name, open := range cases {
		t.Run(name, func(t *testing.T) {
			pt, err := open()
			if !errors.Is(err, crypto.ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
		})
	}
}

func TestKeyIDOf(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		id   uint32
		want bool
	}{
		{nil, 0, false},
		{[]byte{1, 0, 0, 0}, 0, false},
		{[]byte{0, 1, 2, 3, 4, 5}, 0, false}, // LEGACY prefix start byte
		{[]byte{1, 0xa1, 0xcb, 0x8b, 0xbc}, 2714471356, true},
	} {
		id, ok := crypto.KeyIDOf(tc.in)
		if id != tc.id || ok != tc.want {
			t.Errorf("KeyIDOf(%x) = %d, %v; want %d, %v", tc.in, id, ok, tc.id, tc.want)
		}
	}
}

func TestNewKeyringRejects(t *testing.T) {
	if _, err := crypto.NewKeyring(nil); !errors.Is(err, crypto.ErrKeyset) {
		t.Errorf("nil handle: err = %v, want ErrKeyset", err)
	}
	raw, err := keyset.NewHandle(aead.AES256GCMNoPrefixKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.NewKeyring(raw); !errors.Is(err, crypto.ErrKeyset) {
		t.Errorf("RAW primary: err = %v, want ErrKeyset", err)
	}
	m, err := keyset.NewHandle(mac.HMACSHA256Tag256KeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.NewKeyring(m); !errors.Is(err, crypto.ErrKeyset) {
		t.Errorf("MAC keyset: err = %v, want ErrKeyset", err)
	}
	x, err := keyset.NewHandle(aead.XChaCha20Poly1305KeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.NewKeyring(x); err != nil {
		t.Errorf("XChaCha20Poly1305 (TINK prefix) keyset: %v", err)
	}
}

func TestCleartextKeysetRoundTrip(t *testing.T) {
	k := newKeyring(t)
	var buf bytes.Buffer
	if err := k.WriteInsecureCleartext(&buf); err != nil {
		t.Fatal(err)
	}
	k2, err := crypto.ReadInsecureCleartextKeyring(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	assertSameKeys(t, k, k2)
}

func TestEncryptedKeysetRoundTrip(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t)
	if _, err := k.AddKey(); err != nil {
		t.Fatal(err)
	}
	kek := newKEK(t)
	ad := []byte("outputs/keyset/prod")
	var buf bytes.Buffer
	if err := k.WriteEncrypted(ctx, &buf, kek, ad); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(`"value"`)) {
		t.Fatal("encrypted keyset JSON holds cleartext key data")
	}
	k2, err := crypto.ReadEncryptedKeyring(ctx, bytes.NewReader(buf.Bytes()), kek, ad)
	if err != nil {
		t.Fatal(err)
	}
	assertSameKeys(t, k, k2)

	for name, read := range map[string]func() error{
		"wrong KEK": func() error {
			_, err := crypto.ReadEncryptedKeyring(ctx, bytes.NewReader(buf.Bytes()), newKEK(t), ad)
			return err
		},
		"wrong AD": func() error {
			_, err := crypto.ReadEncryptedKeyring(ctx, bytes.NewReader(buf.Bytes()), kek, []byte("outputs/keyset/dev"))
			return err
		},
		"no AD": func() error {
			_, err := crypto.ReadEncryptedKeyring(ctx, bytes.NewReader(buf.Bytes()), kek, nil)
			return err
		},
		"nil KEK": func() error {
			_, err := crypto.ReadEncryptedKeyring(ctx, bytes.NewReader(buf.Bytes()), nil, ad)
			return err
		},
		"cleartext keyset": func() error {
			var clear bytes.Buffer
			if err := k.WriteInsecureCleartext(&clear); err != nil {
				t.Fatal(err)
			}
			_, err := crypto.ReadEncryptedKeyring(ctx, &clear, kek, ad)
			return err
		},
		"encrypted keyset read as cleartext": func() error {
			_, err := crypto.ReadInsecureCleartextKeyring(bytes.NewReader(buf.Bytes()))
			return err
		},
		"write with nil KEK": func() error { return k.WriteEncrypted(ctx, &bytes.Buffer{}, nil, ad) },
	} {
		if err := read(); !errors.Is(err, crypto.ErrKeyset) {
			t.Errorf("%s: err = %v, want ErrKeyset", name, err)
		}
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := crypto.ReadEncryptedKeyring(cancelled, bytes.NewReader(buf.Bytes()), kek, ad); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: err = %v", err)
	}
	if err := k.WriteEncrypted(cancelled, &bytes.Buffer{}, kek, ad); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: err = %v", err)
	}
}

// TestContextKEK: a KEK with only context methods (as cloud KMS AEADs are) plugs in through
// ContextKEK, gets the caller's ctx, and reads what a plain tink.AEAD over the same key wrote.
func TestContextKEK(t *testing.T) {
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-7")
	plain := newKEK(t)
	kms := &ctxOnlyKEK{a: plain, want: func(c context.Context) bool { return c.Value(ctxKey{}) == "request-7" }}
	kek := crypto.ContextKEK(kms)
	k := newKeyring(t)
	var buf bytes.Buffer
	if err := k.WriteEncrypted(ctx, &buf, kek, []byte("ad")); err != nil {
		t.Fatal(err)
	}
	k2, err := crypto.ReadEncryptedKeyring(ctx, bytes.NewReader(buf.Bytes()), kek, []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	assertSameKeys(t, k, k2)
	if kms.calls != 2 || kms.wrongCtx != 0 {
		t.Fatalf("KEK calls %d, without the caller's ctx %d", kms.calls, kms.wrongCtx)
	}
	k3, err := crypto.ReadEncryptedKeyring(ctx, bytes.NewReader(buf.Bytes()), plain, []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	assertSameKeys(t, k, k3)
	// The context-free methods work too.
	ct, err := kek.Encrypt([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := kek.Decrypt(ct, nil); err != nil || string(pt) != "x" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
}

// ctxOnlyKEK implements only tink.AEADWithContext, like a cloud KMS AEAD, and checks the ctx it
// gets.
type ctxOnlyKEK struct {
	a               tink.AEAD
	want            func(context.Context) bool
	calls, wrongCtx int
}

func (k *ctxOnlyKEK) check(ctx context.Context) {
	k.calls++
	if !k.want(ctx) {
		k.wrongCtx++
	}
}

func (k *ctxOnlyKEK) EncryptWithContext(ctx context.Context, pt, ad []byte) ([]byte, error) {
	k.check(ctx)
	return k.a.Encrypt(pt, ad)
}

func (k *ctxOnlyKEK) DecryptWithContext(ctx context.Context, ct, ad []byte) ([]byte, error) {
	k.check(ctx)
	return k.a.Decrypt(ct, ad)
}

// assertSameKeys checks that a and b hold the same keys: same key list, and each opens what the
// other seals.
func assertSameKeys(t *testing.T, a, b *crypto.Keyring) {
	t.Helper()
	if fmt.Sprint(a.Keys()) != fmt.Sprint(b.Keys()) {
		t.Fatalf("keys differ: %v vs %v", a.Keys(), b.Keys())
	}
	for _, pair := range [][2]*crypto.Keyring{{a, b}, {b, a}} {
		ct, err := pair[0].Seal([]byte("secret"), []byte("ad"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := pair[1].Open(ct, []byte("ad")); err != nil || string(pt) != "secret" {
			t.Fatalf("Open = %q, %v", pt, err)
		}
	}
}

func TestKeyringPrintsNoKeyMaterial(t *testing.T) {
	k := newKeyring(t)
	var clear bytes.Buffer
	if err := k.WriteInsecureCleartext(&clear); err != nil {
		t.Fatal(err)
	}
	material := keyValues(t, clear.String())
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprint(k.Keys())} {
		for _, m := range material {
			if strings.Contains(s, m) {
				t.Fatalf("%q shows key material", s)
			}
		}
		if !strings.Contains(s, fmt.Sprint(k.PrimaryKeyID())) {
			t.Errorf("%q does not name the primary key", s)
		}
	}
}

// keyValues returns the base64 "value" strings (serialized keys) of a cleartext JSON keyset.
func keyValues(t *testing.T, js string) []string {
	t.Helper()
	var out []string
	for _, part := range strings.Split(js, `"value":"`)[1:] {
		out = append(out, part[:strings.IndexByte(part, '"')])
	}
	if len(out) == 0 {
		t.Fatal("no key values found in the cleartext keyset")
	}
	return out
}

// TestReadCleartextErrorsQuoteNothing feeds keysets that are almost right and checks that the
// error does not echo their (key) bytes.
func TestReadCleartextErrorsQuoteNothing(t *testing.T) {
	k := newKeyring(t)
	var clear bytes.Buffer
	if err := k.WriteInsecureCleartext(&clear); err != nil {
		t.Fatal(err)
	}
	value := keyValues(t, clear.String())[0]
	for _, in := range []string{
		strings.Replace(clear.String(), `"primaryKeyId"`, `"primaryKeyIdX"`, 1),
		strings.Replace(clear.String(), `"value":"`, `"value":"!`, 1),
		strings.Replace(clear.String(), `"keyMaterialType":"SYMMETRIC"`, `"keyMaterialType":"`+value+`"`, 1),
		clear.String()[:len(clear.String())-3],
	} {
		_, err := crypto.ReadInsecureCleartextKeyring(strings.NewReader(in))
		if !errors.Is(err, crypto.ErrKeyset) {
			t.Fatalf("err = %v, want ErrKeyset", err)
		}
		if strings.Contains(err.Error(), value) || strings.Contains(err.Error(), value[:12]) {
			t.Fatalf("error quotes key material: %v", err)
		}
	}
}

func FuzzReadInsecureCleartextKeyring(f *testing.F) {
	var clear bytes.Buffer
	if err := newKeyring(f).WriteInsecureCleartext(&clear); err != nil {
		f.Fatal(err)
	}
	f.Add(clear.Bytes())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"primaryKeyId":1,"key":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := crypto.ReadInsecureCleartextKeyring(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, crypto.ErrKeyset) {
				t.Fatalf("err = %v, want ErrKeyset", err)
			}
			return
		}
		ct, err := k.Seal([]byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Open(ct, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzReadEncryptedKeyring(f *testing.F) {
	kek := newKEK(f)
	k := newKeyring(f)
	var buf bytes.Buffer
	if err := k.WriteEncrypted(context.Background(), &buf, kek, []byte("ad")); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes(), []byte("ad"))
	f.Add([]byte(`{"encryptedKeyset":"AAAA"}`), []byte(nil))
	f.Fuzz(func(t *testing.T, data, ad []byte) {
		_, err := crypto.ReadEncryptedKeyring(context.Background(), bytes.NewReader(data), kek, ad)
		if err != nil && !errors.Is(err, crypto.ErrKeyset) {
			t.Fatalf("err = %v, want ErrKeyset", err)
		}
	})
}

func FuzzOpen(f *testing.F) {
	k := newKeyring(f)
	ct, err := k.Seal([]byte("secret"), []byte("ad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct, []byte("ad"))
	f.Add([]byte{1, 0, 0, 0, 0}, []byte(nil))
	f.Fuzz(func(t *testing.T, ct, ad []byte) {
		pt, err := k.Open(ct, ad)
		if err != nil && !errors.Is(err, crypto.ErrDecrypt) {
			t.Fatalf("err = %v, want ErrDecrypt", err)
		}
		if err == nil && string(pt) != "secret" {
			t.Fatalf("forged ciphertext opened to %q", pt)
		}
		crypto.KeyIDOf(ct)
	})
}

// TestZeroKeyring: a zero or nil Keyring fails every operation with ErrKeyset, without panicking.
func TestZeroKeyring(t *testing.T) {
	ctx := context.Background()
	for name, k := range map[string]*crypto.Keyring{"zero": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			in := &destination.Integration{ID: "i", WorkspaceID: "w"}
			_, sealErr := k.Seal([]byte("x"), nil)
			_, openErr := k.Open([]byte("x"), nil)
			_, sealSecretErr := k.SealSecret(ctx, in, destination.SecretAccessKey, "x")
			_, addErr := k.AddKey()
			_, reErr := crypto.Reencrypt(ctx, newStore(), k, crypto.ReencryptOptions{})
			for i, err := range []error{sealErr, openErr, sealSecretErr, addErr, k.Promote(1), k.Disable(1),
				k.WriteInsecureCleartext(&bytes.Buffer{}), k.WriteEncrypted(ctx, &bytes.Buffer{}, newKEK(t), nil), reErr} {
				if !errors.Is(err, crypto.ErrKeyset) {
					t.Errorf("operation %d: err = %v, want ErrKeyset", i, err)
				}
			}
			if k.PrimaryKeyID() != 0 || k.Keys() != nil || k.String() != "crypto.Keyring{}" {
				t.Errorf("zero keyring reports %v %v %s", k.PrimaryKeyID(), k.Keys(), k)
			}
		})
	}
}
