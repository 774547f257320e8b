package provider_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// classify classifies err as a Client would for the driver whose SDK made it: the drivers'
// ErrorClassifiers first, then the generic rules.
func classify(err error) provider.Classification {
	if c := provider.Classify(err); c.Code == provider.CodeReconnectRequired || c.Code == provider.CodeEndpointUnreachable && !c.Transient {
		return c
	}
	for _, d := range []provider.ErrorClassifier{s3.NewDriver(s3.Options{}), azure.NewDriver(azure.Options{}), gcs.NewDriver(gcs.Options{})} {
		if c, ok := d.ClassifyError(err); ok {
			return c
		}
	}
	return provider.Classify(err)
}

func s3Err(code string, status int) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code, Message: "secret-looking text AKIA..."}}}}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err       error
		code      string
		transient bool
	}{
		{nil, provider.CodeOK, false},
		{fmt.Errorf("x: %w", destination.ErrReconnectRequired), provider.CodeReconnectRequired, false},
		{destination.ErrSecretUnavailable, provider.CodeInvalidCredentials, false},
		{&provider.BlockedAddressError{Addr: netip.MustParseAddr("10.0.0.1")}, provider.CodeEndpointUnreachable, false},
		{errors.New("oauth2: cannot fetch token: dial: refusing to connect: the endpoint is not allowed"), provider.CodeEndpointUnreachable, false},
		{s3Err("SignatureDoesNotMatch", 403), provider.CodeInvalidCredentials, false},
		{s3Err("InvalidAccessKeyId", 403), provider.CodeInvalidCredentials, false},
		{s3Err("AccessDenied", 403), provider.CodePermissionDenied, false},
		{s3Err("NoSuchBucket", 404), provider.CodeBucketNotFound, false},
		{s3Err("AuthorizationHeaderMalformed", 400), provider.CodeWrongRegion, false},
		{s3Err("PermanentRedirect", 301), provider.CodeWrongRegion, false},
		{s3Err("NotImplemented", 501), provider.CodeProviderIncompatible, false},
		{s3Err("InvalidArgument", 400), provider.CodeProviderIncompatible, false},
		{s3Err("SlowDown", 503), destination.CodeThrottled, true},
		{s3Err("Weird", 500), destination.CodeUnavailable, true},
		{s3Err("Forbidden", 403), provider.CodePermissionDenied, false},
		{&azcore.ResponseError{ErrorCode: "AuthenticationFailed", StatusCode: 403}, provider.CodeInvalidCredentials, false},
		{&azcore.ResponseError{ErrorCode: "AuthorizationPermissionMismatch", StatusCode: 403}, provider.CodePermissionDenied, false},
		{&azcore.ResponseError{ErrorCode: "ContainerNotFound", StatusCode: 404}, provider.CodeBucketNotFound, false},
		{&azcore.ResponseError{ErrorCode: "ServerBusy", StatusCode: 503}, destination.CodeThrottled, true},
		{&azcore.ResponseError{ErrorCode: "InternalError", StatusCode: 500}, destination.CodeUnavailable, true},
		{&googleapi.Error{Code: 401}, provider.CodeInvalidCredentials, false},
		{&googleapi.Error{Code: 403}, provider.CodePermissionDenied, false},
		{&googleapi.Error{Code: 404}, provider.CodeBucketNotFound, false},
		{&googleapi.Error{Code: 429}, destination.CodeThrottled, true},
		{&googleapi.Error{Code: 503}, destination.CodeUnavailable, true},
		{&destination.UploadError{Code: destination.CodeSourceSizeMismatch, Message: "m"}, destination.CodeSourceSizeMismatch, false},
		{fmt.Errorf("x: %w", context.Canceled), destination.CodeCanceled, false},
		{&oauth2.RetrieveError{ErrorCode: "invalid_grant"}, provider.CodeInvalidCredentials, false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, provider.CodeEndpointUnreachable, true},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, provider.CodeEndpointUnreachable, false},
		{x509.UnknownAuthorityError{}, provider.CodeTLSError, false},
		{fmt.Errorf("put: %w", context.DeadlineExceeded), provider.CodeTimeout, true},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, destination.CodeUnavailable, true},
		{&url.Error{Op: "Put", URL: "http://x/b", Err: &net.OpError{Op: "readfrom", Net: "tcp", Err: &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}}}, destination.CodeUnavailable, true},
		{provider.BadConfig("gcsServiceAccountJson", "the key's token_uri must be Google's"), provider.CodeInvalidCredentials, false},
		{errors.New("something else"), provider.CodeUnknown, false},
	}
	region := &smithy.OperationError{Err: &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 400}},
		Err:      &smithy.GenericAPIError{Code: "AuthorizationHeaderMalformed", Message: "the region 'us-east-1' is wrong; expecting 'eu-west-1'"}}}}
	if c := classify(region); c.Code != provider.CodeWrongRegion || !strings.Contains(c.Message, "the bucket is in eu-west-1") {
		t.Errorf("wrong region: %+v", c)
	}
	for _, tc := range cases {
		got := classify(tc.err)
		if got.Code != tc.code || got.Transient != tc.transient || got.Message == "" {
			t.Errorf("Classify(%v) = %+v, want %s transient=%v", tc.err, got, tc.code, tc.transient)
		}
		if strings.Contains(got.Message, "AKIA") {
			t.Errorf("Classify(%v) copied provider text into %q", tc.err, got.Message)
		}
	}
}

// FuzzClassify: any error text gives a known code and a message, and text that is not a bare
// provider code (such as a secret inside an error) never reaches the message.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"", "connection refused", "refusing to connect: the endpoint is not allowed",
		"x509: certificate signed by unknown authority", "secret=hunter2 no such host", "i/o timeout"} {
		f.Add(s)
	}
	known := map[string]bool{provider.CodeOK: true, provider.CodeInvalidCredentials: true, provider.CodePermissionDenied: true,
		provider.CodeBucketNotFound: true, provider.CodeWrongRegion: true, provider.CodeEndpointUnreachable: true,
		provider.CodeTLSError: true, provider.CodeProviderIncompatible: true, provider.CodeTimeout: true,
		provider.CodeReconnectRequired: true, provider.CodeUnknown: true, destination.CodeThrottled: true, provider.CodeQuotaExceeded: true,
		destination.CodeUnavailable: true, destination.CodeCanceled: true, destination.CodeChecksumMismatch: true}
	f.Fuzz(func(t *testing.T, s string) {
		s = s[:len(s)/2] + marker + s[len(s)/2:]
		for _, err := range []error{errors.New(s), s3Err(s, 400), &azcore.ResponseError{ErrorCode: s, StatusCode: 400}} {
			c := classify(err)
			if !known[c.Code] || c.Message == "" {
				t.Fatalf("Classify(%q) = %+v", s, c)
			}
			if strings.Contains(c.Message, marker) {
				t.Fatalf("message %q contains text of the error %q", c.Message, s)
			}
		}
	})
}

const marker = "pw=hunter2"

func FuzzJoinURL(f *testing.F) {
	for _, s := range []string{"renders/a b.mp4", "x/../y", "%2F", "ü/ß?#", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		u := provider.JoinURL("https://cdn.example.com/base/", key)
		if !strings.HasPrefix(u, "https://cdn.example.com/base/") {
			t.Fatalf("JoinURL(%q) = %q", key, u)
		}
		if strings.ContainsAny(u[len("https://"):], "?# ") {
			t.Fatalf("JoinURL(%q) = %q: unescaped query, fragment or space", key, u)
		}
	})
}
