// Package crypto is the keyring of the outputs library: it seals the secret fields of an
// integration (S3 secret access keys, GCS service-account keys, Azure account keys, Drive refresh
// tokens) with Tink AEAD (AES256-GCM, TINK output prefix) so that nothing is stored in plaintext.
//
// Every sealed secret is bound to its row by associated data built by SecretAD from the
// workspace ID, the integration ID and the field name: a ciphertext copied to another workspace,
// integration or field does not open.
//
// A Keyring holds a Tink keyset. Production keysets are stored encrypted under a key-encryption
// key (ReadEncryptedKeyring, WriteEncrypted), which can be any tink.AEAD, such as a cloud KMS
// key from tink-go-gcpkms or tink-go-awskms. The insecure, cleartext variants exist for
// development and tests only.
//
// Keys rotate without downtime: AddKey adds a key (distribute the keyset everywhere first),
// Promote makes it the primary that seals new secrets while old keys keep opening old ones,
// Reencrypt rewrites every stored secret under the primary, and Disable retires the old key.
//
// A Keyring is safe for concurrent use: rotation swaps the primitive atomically, so Seal and
// Open never block on it.
//
// The package is built on github.com/tink-crypto/tink-go/v2, whose wire format is that of the
// archived github.com/google/tink/go: keysets and ciphertexts written with the old module still
// read. A binary must not link both, though: they register the same protobuf names and panic at start-up.
package crypto
