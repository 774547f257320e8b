package crypto

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// maxKeysetBytes bounds what the keyset readers accept; a keyset of a hundred keys is ~20 KB.
const maxKeysetBytes = 1 << 20

// ReadEncryptedKeyring reads a JSON keyset encrypted under the key-encryption key kek with
// associatedData (as WriteEncrypted writes it) and returns a Keyring over it. kek can be any
// tink.AEAD, such as a cloud KMS AEAD; when it also implements tink.AEADWithContext, ctx is
// passed to it. A malformed keyset, a wrong KEK or wrong associated data give an error matching
// ErrKeyset.
func ReadEncryptedKeyring(ctx context.Context, r io.Reader, kek tink.AEAD, associatedData []byte) (*Keyring, error) {
	if kek == nil {
		return nil, fmt.Errorf("%w: nil key-encryption key", ErrKeyset)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	jr := keyset.NewJSONReader(io.LimitReader(r, maxKeysetBytes))
	var h *keyset.Handle
	var err error
	if kc, ok := kek.(tink.AEADWithContext); ok {
		h, err = keyset.ReadWithContext(ctx, jr, kc, associatedData)
	} else {
		h, err = keyset.ReadWithAssociatedData(jr, kek, associatedData)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		// Tink's messages here name the failing step (JSON, decryption) and carry no key
		// material: the keyset bytes are encrypted.
		return nil, fmt.Errorf("%w: reading an encrypted keyset: %v", ErrKeyset, err)
	}
	return NewKeyring(h)
}

// WriteEncrypted writes the keyring's keyset as JSON, encrypted under the key-encryption key
// kek with associatedData; ReadEncryptedKeyring reads it back with the same kek and associated
// data. The JSON also carries the keyset's key IDs and statuses in cleartext (no key material).
func (k *Keyring) WriteEncrypted(ctx context.Context, w io.Writer, kek tink.AEAD, associatedData []byte) error {
	if kek == nil {
		return fmt.Errorf("%w: nil key-encryption key", ErrKeyset)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h := k.load().handle
	if h == nil {
		return errUninitialized
	}
	jw := keyset.NewJSONWriter(w)
	var err error
	if kc, ok := kek.(tink.AEADWithContext); ok {
		err = h.WriteWithContext(ctx, jw, kc, associatedData)
	} else {
		err = h.WriteWithAssociatedData(jw, kek, associatedData)
	}
	if err != nil {
		return fmt.Errorf("crypto: writing the encrypted keyset: %v", err)
	}
	return nil
}

// errCleartext is the only error ReadInsecureCleartextKeyring reports for unreadable input:
// parser messages may quote the input, which holds raw key material.
var errCleartext = errors.New("not a cleartext JSON AEAD keyset")

// ReadInsecureCleartextKeyring reads a cleartext JSON keyset (as WriteInsecureCleartext and
// cmd/outputs-keygen write it). Cleartext keysets hold raw key material: use them only for
// development and tests, never in production. Errors match ErrKeyset and never quote the input.
func ReadInsecureCleartextKeyring(r io.Reader) (*Keyring, error) {
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(io.LimitReader(r, maxKeysetBytes)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyset, errCleartext)
	}
	return NewKeyring(h)
}

// WriteInsecureCleartext writes the keyring's keyset as cleartext JSON, raw key material
// included. Use it only for development and tests; production keysets go through WriteEncrypted.
func (k *Keyring) WriteInsecureCleartext(w io.Writer) error {
	h := k.load().handle
	if h == nil {
		return errUninitialized
	}
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(w)); err != nil {
		return fmt.Errorf("crypto: writing the cleartext keyset: %w", err)
	}
	return nil
}

// ContextKEK adapts a key-encryption key that offers only the context-aware methods of
// tink.AEADWithContext (such as the AEADs of tink-go-gcpkms GetAEADWithContext and tink-go-awskms
// NewAEADWithContext) to the kek parameter of ReadEncryptedKeyring and WriteEncrypted, which pass
// their ctx through to it. Its context-free Encrypt and Decrypt use context.Background.
func ContextKEK(a tink.AEADWithContext) tink.AEAD { return contextKEK{a} }

type contextKEK struct{ tink.AEADWithContext }

func (c contextKEK) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	return c.EncryptWithContext(context.Background(), plaintext, associatedData)
}

func (c contextKEK) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	return c.DecryptWithContext(context.Background(), ciphertext, associatedData)
}
