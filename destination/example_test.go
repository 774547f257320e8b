package destination_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Map any error of the library to an HTTP status by its one kind (the table of the package
// documentation).
func ExampleKind() {
	status := map[error]int{
		destination.ErrInvalid: http.StatusBadRequest, destination.ErrNoWorkspace: http.StatusForbidden,
		destination.ErrForbidden: http.StatusForbidden, destination.ErrNotFound: http.StatusNotFound,
		destination.ErrConflict: http.StatusConflict, destination.ErrInactive: http.StatusConflict,
		destination.ErrProviderMismatch: http.StatusConflict, destination.ErrReconnectRequired: http.StatusConflict,
		destination.ErrUnsupported: http.StatusNotImplemented,
	}
	statusOf := func(err error) int {
		if st, ok := status[destination.Kind(err)]; ok {
			return st
		}
		return http.StatusInternalServerError // ErrInternal, ErrSecretUnavailable, anything else
	}
	// A destination naming an unknown integration is a bad request, not a missing resource.
	bad := &destination.ValidationError{Errors: []destination.FieldError{
		{Field: "destinations[0].integrationId", Code: destination.CodeNotFound, Message: "no integration with this ID"}}}
	fmt.Println(statusOf(bad), errors.Is(bad, destination.ErrNotFound))
	fmt.Println(statusOf(fmt.Errorf("get: %w", destination.ErrNotFound)))
	fmt.Println(statusOf(fmt.Errorf("seal: %w: kms down", destination.ErrInternal)))
	// Output:
	// 400 false
	// 404
	// 500
}

// The fields that decide where a provider's stored secret is sent: changing one in an update
// requires the secret again.
func ExampleCredentialTargetFields() {
	fmt.Println(destination.CredentialTargetFields(destination.GCS))
	fmt.Println(destination.CredentialTargetFields(destination.Azure))
	// Output:
	// [endpoint bucket gcsProjectId gcsImpersonateServiceAccount]
	// [endpoint azureAccountName azureContainerName]
}
