package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
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
	for _, err := range []error{errors.New("boom"), &http.MaxBytesError{Limit: 10}, errUnauthenticated, errWrongUser,
		errNotRoute, errMethod, errRenderBusy, errRenderNotFound, fmt.Errorf("x: %w", drive.ErrStateReplayed),
		&destination.ValidationError{Errors: []destination.FieldError{{Field: "destinations[0].integrationId", Code: destination.CodeNotFound}}}} {
		st, body, _ := httpError(err)
		if codeStatus[body.Code] != st || body.Message == "" || strings.Contains(body.Message, "boom") {
			t.Errorf("%v: %d %q %q", err, st, body.Code, body.Message)
		}
	}
}
