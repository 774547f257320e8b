package crypto

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ilovevideoeditor/outputs/destination"
)

// ReencryptOptions adjusts Reencrypt.
type ReencryptOptions struct {
	// PageSize is how many integrations each Store.Scan call returns; 0 means 100.
	PageSize int
	// MaxRetries bounds how many times one integration is re-read and resealed after its update
	// lost a race with a concurrent writer (destination.ErrConflict); 0 means 5.
	MaxRetries int
	// After starts the sweep after this integration ID (Scan order), to resume an interrupted
	// sweep from ReencryptStats.LastID. Empty means from the start.
	After string
}

// ReencryptStats reports what a sweep did.
type ReencryptStats struct {
	// Scanned counts the integrations read by Store.Scan.
	Scanned int
	// Rewritten counts the integrations written back with resealed secrets.
	Rewritten int
	// SecretsResealed counts the secrets resealed in them.
	SecretsResealed int
	// ConflictsRetried counts the updates that lost a race with a concurrent writer and were
	// retried after re-reading the integration.
	ConflictsRetried int
	// Failures lists the integrations the sweep could not rewrite; the sweep went on past them.
	Failures []ReencryptFailure
	// LastID is the last integration ID scanned; pass it as ReencryptOptions.After to resume.
	LastID string
}

// ReencryptFailure names an integration the sweep could not rewrite, and why. Err never
// contains a secret; a secret that does not open matches destination.ErrSecretUnavailable and
// ErrDecrypt.
type ReencryptFailure struct {
	WorkspaceID   string
	IntegrationID string
	Err           error
}

// Reencrypt rewrites, in every integration of s, each sealed secret that the primary key did not
// seal: it opens the secret and seals it again with the primary key and the same associated data,
// keeping its hint, and writes the integration back with Store.Update at the version it read. An
// update that loses a race with a concurrent writer (destination.ErrConflict) is retried on a
// fresh read, at most opts.MaxRetries times, so a concurrent change is never overwritten. An
// integration deleted meanwhile is skipped. An integration whose secret does not open is
// recorded in the stats' Failures and the sweep goes on.
//
// Reencrypt pages through s.Scan in ID order. It is re-runnable: integrations already under the
// primary key are not written, so a second sweep rewrites nothing. It returns early, with the
// stats so far, only when s.Scan fails or ctx ends; a Scan error that names unreadable rows (an
// error with an IDs() []string method, as sqlstore's CorruptError) is recorded as failures of
// those rows and the sweep goes on. Once a sweep reports no failures, the old keys
// can be disabled.
func Reencrypt(ctx context.Context, s destination.Store, k *Keyring, opts ReencryptOptions) (ReencryptStats, error) {
	if s == nil {
		return ReencryptStats{}, errors.New("crypto: reencrypt: nil Store")
	}
	if k.load().handle == nil {
		return ReencryptStats{}, errUninitialized
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 5
	}
	stats := ReencryptStats{LastID: opts.After}
	for {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		page, err := s.Scan(ctx, stats.LastID, opts.PageSize)
		var unreadable []string
		if err != nil {
			// A store may return the readable rows of a page with an error naming the unreadable
			// ones (sqlstore.CorruptError): record those and go on, so one corrupt row does not
			// stop the rotation of every row after it.
			var partial interface{ IDs() []string }
			if !errors.As(err, &partial) || ctx.Err() != nil {
				return stats, fmt.Errorf("crypto: reencrypt: scanning after %q: %w", stats.LastID, err)
			}
			unreadable = partial.IDs()
		}
		for _, id := range unreadable {
			stats.Scanned++
			stats.Failures = append(stats.Failures, ReencryptFailure{IntegrationID: id, Err: err})
		}
		for _, in := range page {
			stats.Scanned++
			stats.LastID = in.ID
			if err := k.reencryptOne(ctx, s, in, opts.MaxRetries, &stats); err != nil {
				if ctxErr := ctx.Err(); ctxErr != nil {
					return stats, ctxErr
				}
				stats.Failures = append(stats.Failures, ReencryptFailure{WorkspaceID: in.WorkspaceID, IntegrationID: in.ID, Err: err})
			}
		}
		for _, id := range unreadable {
			stats.LastID = max(stats.LastID, id)
		}
		if len(page)+len(unreadable) < opts.PageSize {
			return stats, nil
		}
	}
}

// reencryptOne reseals in's stale secrets and writes it back, re-reading it after a conflict.
func (k *Keyring) reencryptOne(ctx context.Context, s destination.Store, in *destination.Integration, maxRetries int, stats *ReencryptStats) error {
	for attempt := 0; ; attempt++ {
		out, n, err := k.reseal(in)
		if err != nil || n == 0 {
			return err
		}
		_, err = s.Update(ctx, out)
		switch {
		case err == nil:
			stats.Rewritten++
			stats.SecretsResealed += n
			return nil
		case errors.Is(err, destination.ErrNotFound):
			return nil // deleted meanwhile: nothing left to protect
		case errors.Is(err, destination.ErrConflict) && attempt < maxRetries:
			stats.ConflictsRetried++
			in, err = s.Get(ctx, in.WorkspaceID, in.ID)
			if errors.Is(err, destination.ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("crypto: reencrypt: re-reading after a conflict: %w", err)
			}
		default:
			return fmt.Errorf("crypto: reencrypt: updating: %w", err)
		}
	}
}

// reseal returns a copy of in whose secrets not sealed by the primary key are sealed again by
// it, and how many were. With n == 0, out is nil.
func (k *Keyring) reseal(in *destination.Integration) (out *destination.Integration, n int, err error) {
	st := k.load() // one snapshot for the whole integration
	fields := make([]destination.SecretField, 0, len(in.Secrets))
	for f, sealed := range in.Secrets {
		if id, ok := KeyIDOf(sealed.Ciphertext); !ok || id != st.primary || sealed.KeyID != id {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return nil, 0, nil
	}
	slices.Sort(fields)
	out = in.Clone()
	for _, f := range fields {
		sealed := out.Secrets[f]
		ad := SecretAD(in.WorkspaceID, in.ID, f)
		pt, err := st.aead.Decrypt(sealed.Ciphertext, ad)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %.40q: %w", destination.ErrSecretUnavailable, string(f), ErrDecrypt)
		}
		ct, err := st.aead.Encrypt(pt, ad)
		clear(pt)
		if err != nil {
			return nil, 0, fmt.Errorf("crypto: reencrypt: seal: %w", err)
		}
		sealed.Ciphertext, sealed.KeyID = ct, st.primary
		out.Secrets[f] = sealed
	}
	return out, len(fields), nil
}
