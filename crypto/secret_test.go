package crypto_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
)

const (
	testS3Secret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testAzureKey    = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	testDriveToken  = "1//0gREFRESHTOKENxyzw-abcdefghijklmnopqrstuvwxyz"
	testPrivateKey  = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
	testPrivKeyID   = "4c2f1a9d8e7b6a5f4e3d2c1b0a99887766554433"
	testServiceAcct = `{"type":"service_account","project_id":"render-prod","private_key_id":"` + testPrivKeyID +
		`","private_key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n","client_email":"r@render-prod.iam.gserviceaccount.com"}`
)

func integration(ws, id string, p destination.Provider) *destination.Integration {
	return &destination.Integration{ID: id, WorkspaceID: ws, Provider: p, Name: "n", IsActive: true, Version: 1,
		Config: destination.Config{Bucket: "renders", AccessKeyID: "AKIAEXAMPLE", Region: "us-east-1"}}
}

// sealAll seals every secret field of a test integration in place.
func sealAll(t testing.TB, k *crypto.Keyring, in *destination.Integration, secrets map[destination.SecretField]string) {
	t.Helper()
	in.Secrets = map[destination.SecretField]destination.Sealed{}
	for f, v := range secrets {
		s, err := k.SealSecret(context.Background(), in, f, v)
		if err != nil {
			t.Fatal(err)
		}
		in.Secrets[f] = s
	}
}

func TestSealSecretOpenSecret(t *testing.T) {
	k := newKeyring(t)
	in := integration("ws-1", "018f0000-0000-7000-8000-000000000001", destination.S3)
	s, err := k.SealSecret(context.Background(), in, destination.SecretAccessKey, testS3Secret)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != k.PrimaryKeyID() {
		t.Errorf("KeyID = %d, want the primary %d", s.KeyID, k.PrimaryKeyID())
	}
	if s.Hint != "••••EKEY" {
		t.Errorf("Hint = %q", s.Hint)
	}
	in.Secrets = map[destination.SecretField]destination.Sealed{destination.SecretAccessKey: s}
	got, err := k.OpenSecret(in, destination.SecretAccessKey)
	if err != nil || got != testS3Secret {
		t.Fatalf("OpenSecret = %q, %v", got, err)
	}
	// The same ciphertext under the generic Open with SecretAD.
	pt, err := k.Open(s.Ciphertext, crypto.SecretAD(in.WorkspaceID, in.ID, destination.SecretAccessKey))
	if err != nil || string(pt) != testS3Secret {
		t.Fatalf("Open = %q, %v", pt, err)
	}
}

// TestADBinding copies a sealed secret to another workspace, integration and field: none opens.
func TestADBinding(t *testing.T) {
	k := newKeyring(t)
	src := integration("ws-1", "int-1", destination.S3)
	sealAll(t, k, src, map[destination.SecretField]string{destination.SecretAccessKey: testS3Secret})
	sealed := src.Secrets[destination.SecretAccessKey]

	for name, tc := range map[string]struct {
		ws, id string
		field  destination.SecretField
	}{
		"other workspace":   {"ws-2", "int-1", destination.SecretAccessKey},
		"other integration": {"ws-1", "int-2", destination.SecretAccessKey},
		"other field":       {"ws-1", "int-1", destination.SecretAzureAccountKey},
		"shifted boundary":  {"ws-1i", "nt-1", destination.SecretAccessKey},
	} {
		t.Run(name, func(t *testing.T) {
			dst := integration(tc.ws, tc.id, destination.S3)
			dst.Secrets = map[destination.SecretField]destination.Sealed{tc.field: sealed}
			v, err := k.OpenSecret(dst, tc.field)
			if !errors.Is(err, destination.ErrSecretUnavailable) || !errors.Is(err, crypto.ErrDecrypt) {
				t.Fatalf("err = %v, want ErrSecretUnavailable and ErrDecrypt", err)
			}
			if errors.Is(err, destination.ErrNotFound) {
				t.Fatal("error matches ErrNotFound")
			}
			if v != "" || strings.Contains(err.Error(), testS3Secret) {
				t.Fatalf("secret leaked: %q, %v", v, err)
			}
		})
	}
}

func TestSecretADTrickyTuples(t *testing.T) {
	type tuple struct {
		ws, id string
		f      destination.SecretField
	}
	tuples := []tuple{
		{"ws|x", "y", "f"}, {"ws", "x|y", "f"},
		{"ws", "xy", "f"}, {"wsx", "y", "f"}, {"w", "sxy", "f"},
		{"", "", ""}, {"", "", "f"}, {"", "f", ""}, {"f", "", ""},
		{"a\x00\x00\x00\x01b", "c", "f"}, {"a", "\x00\x00\x00\x01bc", "f"},
		{"ws", "id", "secretAccessKey"}, {"ws", "idsecret", "AccessKey"},
		{"ws/id", "", "secretAccessKey"}, {"ws", "id/secretAccessKey", ""},
	}
	seen := map[string]tuple{}
	for _, tu := range tuples {
		ad := string(crypto.SecretAD(tu.ws, tu.id, tu.f))
		if prev, dup := seen[ad]; dup {
			t.Fatalf("SecretAD collision: %q and %q", prev, tu)
		}
		seen[ad] = tu
		ws, id, f, ok := decodeSecretAD([]byte(ad))
		if !ok || ws != tu.ws || id != tu.id || f != string(tu.f) {
			t.Fatalf("SecretAD(%q) does not decode back: %q %q %q %v", tu, ws, id, f, ok)
		}
	}
}

// decodeSecretAD parses SecretAD's documented layout. That every output decodes back to its
// input proves the encoding injective (no two tuples collide).
func decodeSecretAD(ad []byte) (ws, id, f string, ok bool) {
	const tag = "outputs/secret/v1"
	if !bytes.HasPrefix(ad, []byte(tag)) {
		return "", "", "", false
	}
	rest := ad[len(tag):]
	parts := make([]string, 3)
	for i := range parts {
		if len(rest) < 4 {
			return "", "", "", false
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(len(rest)) < uint64(n) {
			return "", "", "", false
		}
		parts[i], rest = string(rest[:n]), rest[n:]
	}
	return parts[0], parts[1], parts[2], len(rest) == 0
}

func FuzzSecretAD(f *testing.F) {
	f.Add("ws|x", "y", "f", "ws", "x|y", "f")
	f.Add("", "", "", "", "", "")
	f.Add("a\x00\x00\x00\x01", "b", "c", "a", "\x00\x00\x00\x01b", "c")
	f.Fuzz(func(t *testing.T, ws1, id1, f1, ws2, id2, f2 string) {
		a := crypto.SecretAD(ws1, id1, destination.SecretField(f1))
		b := crypto.SecretAD(ws2, id2, destination.SecretField(f2))
		same := ws1 == ws2 && id1 == id2 && f1 == f2
		if bytes.Equal(a, b) != same {
			t.Fatalf("SecretAD(%q,%q,%q) vs (%q,%q,%q): equal=%v", ws1, id1, f1, ws2, id2, f2, !same)
		}
		if ws, id, f, ok := decodeSecretAD(a); !ok || ws != ws1 || id != id1 || f != f1 {
			t.Fatalf("no round trip for (%q,%q,%q)", ws1, id1, f1)
		}
	})
}

func TestHint(t *testing.T) {
	for _, tc := range []struct {
		f    destination.SecretField
		v    string
		want string
	}{
		{destination.SecretAccessKey, testS3Secret, "••••EKEY"},
		{destination.SecretAccessKey, "short", "••••"},
		{destination.SecretAccessKey, "elevenchars", "••••"},
		{destination.SecretAccessKey, "twelve-chars", "••••hars"},
		{destination.SecretAccessKey, "", "••••"},
		{destination.SecretAccessKey, "ключ-доступа-секрет", "••••крет"},
		{destination.SecretAzureAccountKey, testAzureKey, "••••Gw=="},
		{destination.SecretGCSServiceAcct, testServiceAcct, "••••4433"},
		{destination.SecretGCSServiceAcct, `{"private_key_id":"abc"}`, "••••"},
		{destination.SecretGCSServiceAcct, "not json", "••••"},
		{destination.SecretDriveRefresh, testDriveToken, "••••"},
		{"unknown", testS3Secret, "••••"},
		{destination.SecretAccessKey, "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3", "••••"},
	} {
		if got := crypto.Hint(tc.f, tc.v); got != tc.want {
			t.Errorf("Hint(%s, %q) = %q, want %q", tc.f, tc.v, got, tc.want)
		}
	}
}

// TestHintDoesNotCopyTheSecret: the hint is cut from the end of the plaintext, which is never
// converted whole (a []rune of a large secret is another copy of it in memory).
func TestHintDoesNotCopyTheSecret(t *testing.T) {
	long := strings.Repeat("секрет-", 1<<14) + "WXYZ"
	if got := crypto.Hint(destination.SecretAccessKey, long); got != "••••WXYZ" {
		t.Fatalf("Hint = %q", got)
	}
	// One allocation: the hint itself.
	if n := testing.AllocsPerRun(10, func() { crypto.Hint(destination.SecretAccessKey, long) }); n > 1 {
		t.Errorf("Hint allocates %v times for a %d-byte secret, want at most 1", n, len(long))
	}
}

// TestSealSecretHonoursContext: an ended context seals nothing.
func TestSealSecretHonoursContext(t *testing.T) {
	k := newKeyring(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s, err := k.SealSecret(ctx, integration("ws", "id", destination.S3), destination.SecretAccessKey, testS3Secret); !errors.Is(err, context.Canceled) || len(s.Ciphertext) != 0 {
		t.Fatalf("SealSecret with a canceled context: %v, %d bytes", err, len(s.Ciphertext))
	}
}

func TestSealSecretUnbound(t *testing.T) {
	k := newKeyring(t)
	for name, tc := range map[string]struct {
		in *destination.Integration
		f  destination.SecretField
	}{
		"nil integration": {nil, destination.SecretAccessKey},
		"no workspace":    {integration("", "id", destination.S3), destination.SecretAccessKey},
		"no ID":           {integration("ws", "", destination.S3), destination.SecretAccessKey},
		"unknown field":   {integration("ws", "id", destination.S3), "bucket"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := k.SealSecret(context.Background(), tc.in, tc.f, testS3Secret); !errors.Is(err, crypto.ErrUnbound) || strings.Contains(err.Error(), testS3Secret) {
				t.Errorf("SealSecret: err = %v, want ErrUnbound", err)
			}
			if _, err := k.OpenSecret(tc.in, tc.f); !errors.Is(err, crypto.ErrUnbound) || !errors.Is(err, destination.ErrSecretUnavailable) {
				t.Errorf("OpenSecret: err = %v, want ErrUnbound and ErrSecretUnavailable", err)
			}
		})
	}
	// A missing secret is unavailable, not "not found".
	in := integration("ws", "id", destination.S3)
	if _, err := k.OpenSecret(in, destination.SecretAccessKey); !errors.Is(err, destination.ErrSecretUnavailable) || errors.Is(err, destination.ErrNotFound) {
		t.Errorf("missing secret: err = %v", err)
	}
}

func TestUnseal(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t)
	var _ destination.Unsealer = k

	all := map[destination.SecretField]string{
		destination.SecretAccessKey:       testS3Secret,
		destination.SecretGCSServiceAcct:  testServiceAcct,
		destination.SecretAzureAccountKey: testAzureKey,
		destination.SecretDriveRefresh:    testDriveToken,
	}
	in := integration("ws-1", "int-1", destination.S3)
	sealAll(t, k, in, all)
	in.Secrets["bogus"] = in.Secrets[destination.SecretAccessKey] // ignored: not a secret field
	before := in.Clone()
	cfg, err := k.Unseal(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range all {
		if got := cfg.Secret(f); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if cfg.Bucket != "renders" || cfg.AccessKeyID != "AKIAEXAMPLE" {
		t.Errorf("non-secret fields lost: %v", cfg)
	}
	if in.Config.SecretAccessKey != "" || fmt.Sprint(in) != fmt.Sprint(before) {
		t.Error("Unseal modified its input")
	}

	// Nothing sealed: the config comes back as is.
	plain := integration("ws-1", "int-2", destination.Drive)
	if cfg, err := k.Unseal(ctx, plain); err != nil || cfg != plain.Config {
		t.Errorf("Unseal without secrets = %v, %v", cfg, err)
	}

	// A corrupt secret fails the whole unseal with ErrSecretUnavailable.
	bad := in.Clone()
	s := bad.Secrets[destination.SecretAzureAccountKey]
	s.Ciphertext[len(s.Ciphertext)-1] ^= 1
	if _, err := k.Unseal(ctx, bad); !errors.Is(err, destination.ErrSecretUnavailable) {
		t.Errorf("corrupt: err = %v", err)
	}
	if _, err := k.Unseal(ctx, nil); !errors.Is(err, destination.ErrSecretUnavailable) {
		t.Errorf("nil: err = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := k.Unseal(cancelled, in); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// TestNoSecretInOutput looks for every plaintext secret in everything the package emits about
// sealed integrations: errors, %v and %+v and %#v of Keyring, Sealed and Integration, stats.
func TestNoSecretInOutput(t *testing.T) {
	ctx := context.Background()
	k := newKeyring(t)
	secrets := map[destination.SecretField]string{
		destination.SecretAccessKey:       testS3Secret,
		destination.SecretGCSServiceAcct:  testServiceAcct,
		destination.SecretAzureAccountKey: testAzureKey,
		destination.SecretDriveRefresh:    testDriveToken,
	}
	in := integration("ws-1", "int-1", destination.S3)
	sealAll(t, k, in, secrets)

	var out []string
	emit := func(v ...any) {
		for _, x := range v {
			out = append(out, fmt.Sprintf("%v", x), fmt.Sprintf("%+v", x), fmt.Sprintf("%#v", x))
		}
	}
	emit(k, in, in.Secrets)
	for _, s := range in.Secrets {
		emit(s, s.Hint)
	}
	// Every error path that has seen the secrets.
	other := newKeyring(t)
	for f := range secrets {
		_, err := other.OpenSecret(in, f)
		emit(err)
		moved := in.Clone()
		moved.ID = "int-2"
		_, err = k.OpenSecret(moved, f)
		emit(err)
	}
	_, err := other.Unseal(ctx, in)
	emit(err)

	st := newStore()
	if _, err := st.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	stats, err := crypto.Reencrypt(ctx, st, other, crypto.ReencryptOptions{})
	emit(stats, err)
	if len(stats.Failures) != 1 {
		t.Fatalf("failures = %v", stats.Failures)
	}

	for _, s := range out {
		for f, v := range secrets {
			for _, needle := range []string{v, v[:len(v)-4], testPrivateKey[28:60]} {
				if strings.Contains(s, needle) {
					t.Fatalf("output shows the %s secret: %s", f, s)
				}
			}
		}
	}
}
