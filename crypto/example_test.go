package crypto_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

// Seal a secret bound to its row and open it again; the same ciphertext copied to another
// integration does not open.
func ExampleKeyring_Seal() {
	k, err := crypto.NewInsecureDevelopmentKeyring() // production: crypto.ReadEncryptedKeyring
	if err != nil {
		log.Fatal(err)
	}
	ad := crypto.SecretAD("ws_123", "018f3c2a-0000-7000-8000-000000000001", destination.SecretAccessKey)
	ct, err := k.Seal([]byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), ad)
	if err != nil {
		log.Fatal(err)
	}
	pt, err := k.Open(ct, ad)
	fmt.Println(string(pt), err)

	other := crypto.SecretAD("ws_123", "018f3c2a-0000-7000-8000-000000000002", destination.SecretAccessKey)
	_, err = k.Open(ct, other)
	fmt.Println(err)
	// Output:
	// wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY <nil>
	// crypto: ciphertext could not be opened (unknown or disabled key, other associated data, or corrupt data)
}

// Seal an integration's secret field for storage, and unseal its config to build a client.
func ExampleKeyring_SealSecret() {
	ctx := context.Background()
	k, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		log.Fatal(err)
	}
	in := &destination.Integration{ID: "018f3c2a-0000-7000-8000-000000000001", WorkspaceID: "ws_123", Provider: destination.S3,
		Config: destination.Config{Bucket: "renders", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", Region: "us-east-1"}}
	sealed, err := k.SealSecret(ctx, in, destination.SecretAccessKey, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	if err != nil {
		log.Fatal(err)
	}
	in.Secrets = map[destination.SecretField]destination.Sealed{destination.SecretAccessKey: sealed}
	fmt.Println("view shows:", sealed.Hint)

	cfg, err := k.Unseal(context.Background(), in)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client gets:", cfg.SecretAccessKey)
	// Output:
	// view shows: ••••EKEY
	// client gets: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
}

// Rotate keys: add a key, promote it, re-encrypt the stored secrets, then retire the old key.
// The keyset is persisted encrypted under a key-encryption key (a KMS AEAD in production).
func ExampleReencrypt() {
	ctx := context.Background()
	k, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		log.Fatal(err)
	}
	store := memstore.New() // any destination.Store
	in := &destination.Integration{ID: "018f3c2a-0000-7000-8000-000000000001", WorkspaceID: "ws_123", Provider: destination.S3}
	sealed, err := k.SealSecret(ctx, in, destination.SecretAccessKey, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	if err != nil {
		log.Fatal(err)
	}
	in.Secrets = map[destination.SecretField]destination.Sealed{destination.SecretAccessKey: sealed}
	if _, err := store.Create(ctx, in); err != nil {
		log.Fatal(err)
	}

	old := k.PrimaryKeyID()
	id, err := k.AddKey() // 1. add, persist and distribute the keyset everywhere
	if err != nil {
		log.Fatal(err)
	}
	if err := k.Promote(id); err != nil { // 2. promote: new secrets use the new key
		log.Fatal(err)
	}
	stats, err := crypto.Reencrypt(ctx, store, k, crypto.ReencryptOptions{}) // 3. rewrite old secrets
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("scanned %d, rewritten %d, failures %d\n", stats.Scanned, stats.Rewritten, len(stats.Failures))
	if err := k.Disable(old); err != nil { // 4. retire the old key
		log.Fatal(err)
	}

	kekHandle, err := keyset.NewHandle(aead.AES256GCMKeyTemplate()) // stands in for a KMS key
	if err != nil {
		log.Fatal(err)
	}
	kek, err := aead.New(kekHandle)
	if err != nil {
		log.Fatal(err)
	}
	var saved bytes.Buffer
	if err := k.WriteEncrypted(ctx, &saved, kek, []byte("outputs/keyset")); err != nil {
		log.Fatal(err)
	}
	loaded, err := crypto.ReadEncryptedKeyring(ctx, &saved, kek, []byte("outputs/keyset"))
	if err != nil {
		log.Fatal(err)
	}
	stored, err := store.Get(ctx, "ws_123", in.ID)
	if err != nil {
		log.Fatal(err)
	}
	secret, err := loaded.OpenSecret(stored, destination.SecretAccessKey)
	fmt.Println(secret, err, len(loaded.Keys()), "keys")
	// Output:
	// scanned 1, rewritten 1, failures 0
	// wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY <nil> 2 keys
}
