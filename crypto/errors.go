package crypto

import "errors"

// Errors returned by this package. They never contain plaintext secrets or key material.
var (
	// ErrDecrypt: a ciphertext could not be opened: it was sealed by a key the keyring does not
	// hold (or holds disabled), with other associated data, or it is corrupt.
	ErrDecrypt = errors.New("crypto: ciphertext could not be opened (unknown or disabled key, other associated data, or corrupt data)")
	// ErrKeyset: a keyset could not be read or used: it is malformed, it was encrypted under
	// another key-encryption key or associated data, or it is not an AEAD keyset with a TINK
	// output prefix primary key.
	ErrKeyset = errors.New("crypto: invalid keyset")
	// ErrUnknownKey: a rotation step named a key ID that is not in the keyset.
	ErrUnknownKey = errors.New("crypto: no such key in the keyset")
	// ErrPrimaryKey: a rotation step tried to disable or delete the primary key.
	ErrPrimaryKey = errors.New("crypto: the primary key cannot be disabled or deleted")
	// ErrKeyState: a rotation step needs the key in another state (only an enabled key can be
	// promoted).
	ErrKeyState = errors.New("crypto: the key is not in the state this step needs")
	// ErrUnbound: a secret could not be bound to its row: the integration is nil, has no
	// workspace ID or ID, or the field is not a secret field.
	ErrUnbound = errors.New("crypto: secret cannot be bound to an integration field")
)
