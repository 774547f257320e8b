package gcs

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ilovevideoeditor/outputs/provider"
)

// earlyCompletion is the storage client's transport: a chunk of a stream upload whose size is
// still unknown (Content-Range "bytes a-b/*") answered complete (200 or 201 without a 308
// override) becomes an error. storage.Writer's upload would otherwise end successfully while
// the writer still has bytes for it, and the writer's next Write would wait forever, past its
// context (cloud.google.com/go/storage v1.69.0: the goroutine that closes the writer when the
// context ends stops once the upload is done). No GCS completes an object of undeclared size;
// an endpoint that does (or a proxy that drops X-Http-Status-Code-Override) is not GCS.
//
// It also notes the resumable sessions the client starts and sees end (sessions), for the
// cleanup of a failed stream upload to cancel.
type earlyCompletion struct {
	base     http.RoundTripper
	sessions *sessions
}

func (t earlyCompletion) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if !strings.HasSuffix(req.Header.Get("Content-Range"), "/*") ||
		(resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated) ||
		resp.Header.Get("X-Http-Status-Code-Override") == "308" {
		if t.sessions != nil {
			t.sessions.note(req, resp)
		}
		return resp, nil
	}
	drain(resp)
	const detail = "the upload session answered complete before the last chunk"
	return nil, provider.Classified(provider.CodeProviderIncompatible, false, detail).UploadError(errors.New("gcs: " + detail))
}
