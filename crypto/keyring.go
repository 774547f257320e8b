package crypto

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Keyring seals and opens secrets with a Tink AEAD keyset. It is safe for concurrent use: the
// AEAD primitive built from the keyset is held in an atomic pointer and replaced after each
// rotation step, so Seal and Open never wait for rotation.
//
// Rotation steps (AddKey, Promote, Disable, Enable, Delete) change only this Keyring's copy of
// the keyset; persist it afterwards with WriteEncrypted and distribute it to every process.
//
// Printing a Keyring (%v, %+v, %#v) shows only key IDs, never key material.
type Keyring struct {
	mu    sync.Mutex // serializes rotation steps
	state atomic.Pointer[ringState]
}

// ringState is an immutable snapshot: the keyset and the primitive built from it.
type ringState struct {
	handle  *keyset.Handle
	aead    tink.AEAD
	primary uint32
}

// uninitialized stands in for the state of a zero or nil Keyring: every operation fails with
// ErrKeyset instead of panicking.
var uninitialized = &ringState{aead: noKeys{}}

type noKeys struct{}

var errUninitialized = fmt.Errorf("%w: the Keyring has no keyset (create it with NewKeyring or a Read function)", ErrKeyset)

func (noKeys) Encrypt(_, _ []byte) ([]byte, error) { return nil, errUninitialized }
func (noKeys) Decrypt(_, _ []byte) ([]byte, error) { return nil, errUninitialized }

// load returns the current state.
func (k *Keyring) load() *ringState {
	if k != nil {
		if st := k.state.Load(); st != nil {
			return st
		}
	}
	return uninitialized
}

// tinkPrefixSize is the length of a TINK output prefix: 0x01 followed by the big-endian key ID.
const (
	tinkPrefixSize = 5
	tinkStartByte  = 0x01
)

// NewKeyring returns a Keyring over the AEAD keyset h. The primary key must use the TINK output
// prefix (as AES256GCMKeyTemplate does), so that every ciphertext names its key (KeyIDOf) and a
// rotation sweep can tell stale ciphertexts apart; otherwise the error matches ErrKeyset.
func NewKeyring(h *keyset.Handle) (*Keyring, error) {
	st, err := newState(h)
	if err != nil {
		return nil, err
	}
	k := &Keyring{}
	k.state.Store(st)
	return k, nil
}

func newState(h *keyset.Handle) (*ringState, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil keyset handle", ErrKeyset)
	}
	info := h.KeysetInfo()
	primary := info.GetPrimaryKeyId()
	found := false
	for _, ki := range info.GetKeyInfo() {
		if ki.GetKeyId() == primary {
			found = true
			if ki.GetOutputPrefixType() != tinkpb.OutputPrefixType_TINK {
				return nil, fmt.Errorf("%w: primary key %d has output prefix %s, want TINK", ErrKeyset, primary, ki.GetOutputPrefixType())
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: keyset has no primary key", ErrKeyset)
	}
	a, err := aead.New(h)
	if err != nil {
		// Tink's message names key types and IDs only.
		return nil, fmt.Errorf("%w: not an AEAD keyset: %v", ErrKeyset, err)
	}
	return &ringState{handle: h, aead: a, primary: primary}, nil
}

// NewInsecureDevelopmentKeyring returns a Keyring over a fresh, random AES256-GCM keyset that
// exists only in memory. It is insecure in the sense that nothing protects or persists the key:
// use it for development and tests, and WriteEncrypted a real keyset for production.
func NewInsecureDevelopmentKeyring() (*Keyring, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("crypto: generating a keyset: %w", err)
	}
	return NewKeyring(h)
}

// Seal encrypts plaintext bound to associatedData with the primary key. The ciphertext starts
// with the TINK prefix naming that key (see KeyIDOf). For integration secrets use SealSecret,
// which builds the associated data with SecretAD.
func (k *Keyring) Seal(plaintext, associatedData []byte) ([]byte, error) {
	ct, err := k.load().aead.Encrypt(plaintext, associatedData)
	if err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	return ct, nil
}

// Open decrypts a ciphertext made by Seal with the same associated data, by any enabled key of
// the keyset. Any failure matches ErrDecrypt (ErrKeyset for a Keyring without keyset).
func (k *Keyring) Open(ciphertext, associatedData []byte) ([]byte, error) {
	st := k.load()
	pt, err := st.aead.Decrypt(ciphertext, associatedData)
	if err != nil {
		if st == uninitialized {
			return nil, errUninitialized
		}
		// Tink's decryption errors carry no data; they add nothing a caller can use.
		return nil, ErrDecrypt
	}
	return pt, nil
}

// PrimaryKeyID returns the ID of the key that seals new secrets.
func (k *Keyring) PrimaryKeyID() uint32 { return k.load().primary }

// String describes the keyring by its key IDs only; it never prints key material.
func (k *Keyring) String() string {
	st := k.load()
	if st.handle == nil {
		return "crypto.Keyring{}"
	}
	return fmt.Sprintf("crypto.Keyring{primary: %d, keys: %d}", st.primary, st.handle.Len())
}

// GoString is String, so %#v never prints key material either.
func (k *Keyring) GoString() string { return k.String() }

// KeyIDOf returns the ID of the key that sealed ciphertext, read from its TINK output prefix.
// ok is false when ciphertext has no TINK prefix.
func KeyIDOf(ciphertext []byte) (id uint32, ok bool) {
	if len(ciphertext) < tinkPrefixSize || ciphertext[0] != tinkStartByte {
		return 0, false
	}
	return binary.BigEndian.Uint32(ciphertext[1:tinkPrefixSize]), true
}

// secretADTag is the domain tag that starts every associated data built by SecretAD. Bump its
// version only together with a re-encryption that understands both.
const secretADTag = "outputs/secret/v1"

// SecretAD returns the associated data that binds a sealed secret to its row: the domain tag
// "outputs/secret/v1" followed by the workspace ID, the integration ID and the field name, each
// preceded by its length as a big-endian uint32. Distinct tuples always give distinct bytes
// ("ws|x","y" and "ws","x|y" differ), so a ciphertext opens only for the row and field it was
// sealed for. Use immutable IDs only.
func SecretAD(workspaceID, integrationID string, field destination.SecretField) []byte {
	out := make([]byte, 0, len(secretADTag)+12+len(workspaceID)+len(integrationID)+len(field))
	out = append(out, secretADTag...)
	for _, s := range [...]string{workspaceID, integrationID, string(field)} {
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	return out
}
