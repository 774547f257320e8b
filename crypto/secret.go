package crypto

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/ilovevideoeditor/outputs/destination"
)

// mask is what a view shows in place of a secret; Hint appends the last characters when that is
// safe.
const mask = "••••"

// minHintLen is the shortest value whose last 4 characters a hint may show: below it, showing 4
// characters would reveal a third of the secret or more.
const minHintLen = 12

// SealSecret seals plaintext as the secret field of in, bound to in.WorkspaceID, in.ID and
// field (SecretAD). The result carries the sealing key's ID and a masked hint for views:
// "••••" + the last 4 characters of secretAccessKey and azureAccountKey, "••••" + the last 4
// characters of a gcsServiceAccountJson key's private_key_id, and "••••" alone for the Drive
// refresh token or any value shorter than 12 characters. It does not store anything: the caller
// puts the result in in.Secrets[field]. A nil in, an in without WorkspaceID or ID, or a field that
// is not a secret field give ErrUnbound; an ended ctx gives its error.
func (k *Keyring) SealSecret(ctx context.Context, in *destination.Integration, field destination.SecretField, plaintext string) (destination.Sealed, error) {
	if err := ctx.Err(); err != nil {
		return destination.Sealed{}, err
	}
	if err := checkBinding(in, field); err != nil {
		return destination.Sealed{}, err
	}
	ct, err := k.Seal([]byte(plaintext), SecretAD(in.WorkspaceID, in.ID, field))
	if err != nil {
		return destination.Sealed{}, err
	}
	id, _ := KeyIDOf(ct)
	return destination.Sealed{Ciphertext: ct, KeyID: id, Hint: Hint(field, plaintext)}, nil
}

// OpenSecret opens the sealed secret field of in. Every error matches
// destination.ErrSecretUnavailable (a missing value, or one that does not open, which also
// matches ErrDecrypt); none contains the secret.
func (k *Keyring) OpenSecret(in *destination.Integration, field destination.SecretField) (string, error) {
	if err := checkBinding(in, field); err != nil {
		return "", fmt.Errorf("%w: %w", destination.ErrSecretUnavailable, err)
	}
	s, ok := in.Secrets[field]
	if !ok || len(s.Ciphertext) == 0 {
		return "", fmt.Errorf("%w: integration %s has no stored %s", destination.ErrSecretUnavailable, in.ID, field)
	}
	pt, err := k.Open(s.Ciphertext, SecretAD(in.WorkspaceID, in.ID, field))
	if err != nil {
		return "", fmt.Errorf("%w: %s of integration %s: %w", destination.ErrSecretUnavailable, field, in.ID, err)
	}
	return string(pt), nil
}

// Unseal returns a copy of in.Config with every secret field that in.Secrets holds filled in
// with its plaintext; it implements destination.Unsealer. Entries of in.Secrets under names that
// are not secret fields are ignored. Errors are those of OpenSecret, or ctx's.
func (k *Keyring) Unseal(ctx context.Context, in *destination.Integration) (destination.Config, error) {
	if err := ctx.Err(); err != nil {
		return destination.Config{}, err
	}
	if in == nil {
		return destination.Config{}, fmt.Errorf("%w: %w: nil integration", destination.ErrSecretUnavailable, ErrUnbound)
	}
	cfg := in.Config
	for _, f := range allSecretFields {
		if _, ok := in.Secrets[f]; !ok {
			continue
		}
		v, err := k.OpenSecret(in, f)
		if err != nil {
			return destination.Config{}, err
		}
		cfg.SetSecret(f, v)
	}
	return cfg, nil
}

var allSecretFields = destination.AllSecretFields()

func isSecretField(f destination.SecretField) bool {
	for _, s := range allSecretFields {
		if s == f {
			return true
		}
	}
	return false
}

func checkBinding(in *destination.Integration, field destination.SecretField) error {
	switch {
	case in == nil:
		return fmt.Errorf("%w: nil integration", ErrUnbound)
	case in.WorkspaceID == "" || in.ID == "":
		return fmt.Errorf("%w: the integration needs its workspace ID and ID before secrets are sealed", ErrUnbound)
	case !isSecretField(field):
		return fmt.Errorf("%w: %.40q is not a secret field", ErrUnbound, string(field))
	}
	return nil
}

// Hint returns the masked hint a view shows for the plaintext of a secret field (the rules are
// those of SealSecret). It reveals at most 4 characters, and never any for short values, Drive
// refresh tokens or unknown fields.
func Hint(field destination.SecretField, plaintext string) string {
	var tail string
	switch field {
	case destination.SecretAccessKey, destination.SecretAzureAccountKey:
		tail = plaintext
	case destination.SecretGCSServiceAcct:
		var key struct {
			PrivateKeyID string `json:"private_key_id"`
		}
		if json.Unmarshal([]byte(plaintext), &key) != nil {
			return mask
		}
		tail = key.PrivateKeyID
	default:
		return mask
	}
	if !utf8.ValidString(tail) || !hasRunes(tail, minHintLen) {
		return mask
	}
	// The last 4 runes, found from the end: no copy of the secret is made.
	i := len(tail)
	for range 4 {
		_, size := utf8.DecodeLastRuneInString(tail[:i])
		i -= size
	}
	return mask + tail[i:]
}

// hasRunes reports whether s has at least n runes, reading no further than the n-th.
func hasRunes(s string, n int) bool {
	for range s {
		if n--; n <= 0 {
			return true
		}
	}
	return n <= 0
}
