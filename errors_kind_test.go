package outputs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

// failingKeyring seals nothing: a server fault.
type failingKeyring struct{ outputs.Keyring }

func (failingKeyring) SealSecret(context.Context, *destination.Integration, destination.SecretField, string) (destination.Sealed, error) {
	return destination.Sealed{}, errors.New("kms unavailable")
}

// brokenStore fails every read with a database error.
type brokenStore struct{ *memstore.Store }

func (brokenStore) Get(context.Context, string, string) (*destination.Integration, error) {
	return nil, errors.New("pq: connection refused")
}

// oneKind asserts that err matches want and no other sentinel.
func oneKind(t *testing.T, what string, err error, want error) {
	t.Helper()
	for _, k := range destination.Kinds() {
		if errors.Is(err, k) != (k == want) {
			t.Errorf("%s: errors.Is(%v, %v) = %v; want only %v", what, err, k, k != want, want)
		}
	}
	if got := destination.Kind(err); got != want {
		t.Errorf("%s: Kind = %v, want %v", what, got, want)
	}
}

// TestErrorKindsAreDisjoint: every error is one kind; a server fault is ErrInternal, never a
// client error.
func TestErrorKindsAreDisjoint(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	oneKind(t, "validation error with a not_found field", &destination.ValidationError{Errors: []destination.FieldError{
		{Field: "destinations[0].integrationId", Code: destination.CodeNotFound, Message: "x"},
		{Field: "destinations[1].integrationId", Code: destination.CodeInactive, Message: "x"},
		{Field: "destinations", Code: destination.CodeNoWorkspace, Message: "x"}}}, destination.ErrInvalid)

	_, err := h.svc.CreateIntegration(ctx, destination.Caller{APIKeyOnly: true}, r2Input(false))
	oneKind(t, "no workspace", err, destination.ErrNoWorkspace)
	_, err = h.svc.GetIntegration(ctx, wsA, "missing")
	oneKind(t, "missing integration", err, destination.ErrNotFound)
	bad := r2Input(false)
	bad.Config.Bucket = ""
	_, err = h.svc.CreateIntegration(ctx, wsA, bad)
	oneKind(t, "invalid config", err, destination.ErrInvalid)
	_, err = h.svc.ResolveDestinations(ctx, wsA, []byte(`{"destinations":[{"integrationId":"nope","provider":"r2"}]}`))
	oneKind(t, "unknown destination", err, destination.ErrInvalid)

	// Server faults: a keyring that cannot seal, a store that fails.
	v, err := h.svc.CreateIntegration(ctx, wsA, r2Input(false))
	if err != nil {
		t.Fatal(err)
	}
	broken := newHarness(t, func(o *outputs.Options) { o.Keyring = failingKeyring{o.Keyring}; o.Store = h.store })
	_, err = broken.svc.CreateIntegration(ctx, wsA, r2Input(false))
	oneKind(t, "create, sealing fails", err, destination.ErrInternal)
	cfg := r2Input(false).Config
	cfg.SecretAccessKey = "another-secret-value-1234"
	_, err = broken.svc.UpdateIntegration(ctx, wsA, v.ID, outputs.UpdateInput{Config: &cfg})
	oneKind(t, "update, sealing fails", err, destination.ErrInternal)
	var ve *destination.ValidationError
	if errors.As(err, &ve) {
		t.Errorf("a sealing failure is a ValidationError: %v", err)
	}
	down := newHarness(t, func(o *outputs.Options) { o.Store = brokenStore{memstore.New()} })
	_, err = down.svc.GetIntegration(ctx, wsA, v.ID)
	oneKind(t, "store down", err, destination.ErrInternal)
}
