package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/provider/drive"
)

// TestErrorMapping: every library error kind gets the status of the destination package's table
// and a code whose documented status (codeStatus) is that status; server faults never show their text.
func TestErrorMapping(t *testing.T) {
	want := map[error]int{
		destination.ErrInvalid: 400, destination.ErrNoWorkspace: 403, destination.ErrForbidden: 403,
		destination.ErrNotFound: 404, destination.ErrConflict: 409, destination.ErrInactive: 409,
		destination.ErrProviderMismatch: 409, destination.ErrReconnectRequired: 409, destination.ErrUnsupported: 501,
		destination.ErrSecretUnavailable: 500, destination.ErrInternal: 500,
	}
	for _, k := range destination.Kinds() {
		st, body, internal := httpError(fmt.Errorf("op: kms key projects/p/keys/k: %w", k))
		if st != want[k] || codeStatus[body.Code] != st || internal != (st >= 500) {
			t.Errorf("%v: %d %s internal=%v, want %d", k, st, body.Code, internal, want[k])
		}
		if strings.Contains(body.Message, "kms") {
			t.Errorf("%v: the message shows the cause: %q", k, body.Message)
		}
	}
	for _, err := range []error{errors.New("boom"), &http.MaxBytesError{Limit: 10}, errUnauthenticated, drive.ErrCallerMismatch,
		errNotRoute, errMethod, errRenderBusy, errRenderNotFound, fmt.Errorf("x: %w", drive.ErrStateReplayed),
		&destination.ValidationError{Errors: []destination.FieldError{{Field: "destinations[0].integrationId", Code: destination.CodeNotFound}}}} {
		st, body, _ := httpError(err)
		if codeStatus[body.Code] != st || body.Message == "" || strings.Contains(body.Message, "boom") {
			t.Errorf("%v: %d %q %q", err, st, body.Code, body.Message)
		}
	}
}

// failingKeyring cannot seal: a server fault.
type failingKeyring struct{ outputs.Keyring }

func (failingKeyring) SealSecret(context.Context, *destination.Integration, destination.SecretField, string) (destination.Sealed, error) {
	return destination.Sealed{}, errors.New("kms unavailable: projects/p/keys/k")
}

// TestServerFaultIs500: a server fault (sealing fails) answers 500 "internal" in the error shape,
// never a 400, and neither the answer nor the log shows the secret; the log has the cause.
func TestServerFaultIs500(t *testing.T) {
	ts := start(t, config{})
	kr, _ := crypto.NewInsecureDevelopmentKeyring()
	svc, err := outputs.New(outputs.Options{Store: memstore.New(), Keyring: failingKeyring{kr}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts.s.svc = svc
	ex := ts.do(req{method: "POST", path: "/v1/integrations", token: "dev-ws1", body: docCreate}, 500, "internal")
	if strings.Contains(string(ex.Body), "kms") {
		t.Errorf("the answer shows the cause: %s", ex.Body)
	}
	noSecret(t, ex)
	if logs := ts.logs.String(); !strings.Contains(logs, "kms unavailable") || strings.Contains(logs, secret) {
		t.Errorf("server log: the cause must be there, the secret never:\n%s", logs)
	}
}
