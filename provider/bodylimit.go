package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The most a storage endpoint's answer through the shared client may hold: an error answer
// (status 300 and up); then any other answer to a request that is not a GET or HEAD (a
// multipart completion, an upload's JSON), and, within the library's own operations
// (Client.Upload, Test, ObjectURL, AbortCheckpointed, SweepAbandoned, the CDN's), a GET's too
// unless it reads an object's content (ObjectRead): listings, attributes, lookups. The SDKs
// read error answers into memory whole (the AWS SDK into a bytes.Buffer, azcore and googleapi
// with io.ReadAll) and their XML and JSON decoders buffer what they are given, so without a
// limit a tenant's endpoint that answers with an endless body would grow one worker's memory
// until the process dies, with every other tenant's deliveries in it. A host's own reads
// through a bucket of Client.Lease are bounded only by the first two rules.
const (
	MaxErrorResponseBytes  = 1 << 20
	MaxResultResponseBytes = 16 << 20
)

// ErrResponseTooLarge is (errors.Is) the error of reading an answer beyond its limit
// (MaxErrorResponseBytes or MaxResultResponseBytes). It is classified provider_incompatible,
// permanent.
var ErrResponseTooLarge = errors.New("provider: the storage endpoint's answer is too large")

// responseTooLargeError is ErrResponseTooLarge with its limit.
type responseTooLargeError struct{ limit int64 }

func (e *responseTooLargeError) Error() string {
	return fmt.Sprintf("provider: the storage endpoint's answer exceeds %d bytes", e.limit)
}

func (e *responseTooLargeError) Is(target error) bool { return target == ErrResponseTooLarge }

// ClassifyCode makes it provider_incompatible: no storage API answers like that.
func (e *responseTooLargeError) ClassifyCode() (string, bool, string) {
	return CodeProviderIncompatible, false, fmt.Sprintf("the storage endpoint sent an answer larger than %d bytes", e.limit)
}

type (
	objectReadKey struct{}
	boundedKey    struct{}
)

// ObjectRead returns ctx marked as reading the content of an object: within the library's
// operations, the successful answers of GETs made with it are not bounded by
// MaxResultResponseBytes (error answers still are by MaxErrorResponseBytes). The CDN's reads
// and Drive's downloads are marked so.
func ObjectRead(ctx context.Context) context.Context {
	return context.WithValue(ctx, objectReadKey{}, true)
}

// bounded marks ctx as one of the library's own operations on a bucket (see
// MaxResultResponseBytes).
func bounded(ctx context.Context) context.Context {
	if ctx == nil {
		return ctx // the caller's mistake, reported where it is used
	}
	return context.WithValue(ctx, boundedKey{}, true)
}

// limitTransport bounds the bodies of answers (see MaxResultResponseBytes).
type limitTransport struct {
	base http.RoundTripper
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		return resp, err
	}
	var limit int64
	switch {
	case resp.StatusCode >= 300:
		limit = MaxErrorResponseBytes
	case req.Method != http.MethodGet && req.Method != http.MethodHead,
		req.Context().Value(boundedKey{}) != nil && req.Context().Value(objectReadKey{}) == nil:
		limit = MaxResultResponseBytes
	default:
		return resp, nil
	}
	resp.Body = &limitedBody{rc: resp.Body, left: limit, limit: limit}
	return resp, nil
}

// limitedBody reads at most limit bytes of rc; reading more fails with a
// *responseTooLargeError (a body of exactly limit bytes ends normally).
type limitedBody struct {
	rc          io.ReadCloser
	left, limit int64
	err         error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more than allowed tells a body that goes on
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n, b.left = int(b.left), 0
		b.err = &responseTooLargeError{limit: b.limit}
		return n, b.err
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
