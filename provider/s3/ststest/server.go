// Package ststest is an in-process fake of the AWS Security Token Service's AssumeRole, for
// tests of role-based S3 integrations (provider/s3 with Config.RoleARN).
//
// It speaks the real Query API: a form-encoded POST with Action=AssumeRole and Version=2011-06-15,
// signed with AWS Signature Version 4 for service "sts", answered with the XML
// AssumeRoleResponse, or an ErrorResponse with AWS's codes (AccessDenied, SignatureDoesNotMatch,
// InvalidClientTokenId, ValidationError, ExpiredToken). It verifies every signature with the
// platform key it was given, refuses roles it does not know, and enforces each role's trust:
// the caller must be the role's trusted platform principal and must present the role's
// external ID. Issued credentials expire after the requested DurationSeconds, or after
// Options.Lifetime when set (shorter than AWS allows, so that a test can watch credentials
// expire and be refreshed).
//
// It is written by hand because no STS implementation runs locally: versitygw's IAM service
// implements AssumeRoleWithWebIdentity, not AssumeRole with an external ID. Options.OnIssue lets
// a test make the credentials work on a real S3 server (the provider/s3 tests create each
// issued key as a versitygw user, and delete it at expiry).
package ststest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Role is a role the server knows.
type Role struct {
	// ExternalID is what its trust policy requires as sts:ExternalId ("" requires none).
	ExternalID string
	// Untrusted makes the trust policy not name the platform's principal: every AssumeRole
	// is AccessDenied.
	Untrusted bool
}

// Credentials are temporary credentials the server issued.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 time.Time
	RoleARN, SessionName, ExternalID           string
}

// Options configures a Server.
type Options struct {
	// AccessKeyID and SecretAccessKey are the platform's long-lived key: the only key whose
	// signatures are accepted. Required.
	AccessKeyID, SecretAccessKey string
	// PrincipalARN is the platform's principal, as AccessDenied messages name it (default
	// arn:aws:iam::111122223333:user/platform).
	PrincipalARN string
	// Roles are the roles that exist, by ARN.
	Roles map[string]Role
	// Lifetime, when set, replaces the requested duration of every issued credential.
	Lifetime time.Duration
	// OmitSessionToken issues credentials without a session token and with a permanent-looking
	// access key (AKIA…), for S3 servers whose IAM cannot check session tokens (versitygw's
	// internal IAM refuses any X-Amz-Security-Token). AWS always issues a session token.
	OmitSessionToken bool
	// OnIssue is called with each credential set before it is returned (for example to create
	// it as a user on a test S3 server); an error answers 500 InternalFailure.
	OnIssue func(ctx context.Context, c Credentials) error
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Call is one request the server answered.
type Call struct {
	Action, RoleARN, ExternalID, SessionName string
	DurationSeconds                          int
	// Code is "" for success, else the error code returned.
	Code string
	// Authorization is the request's Authorization header (tests check which key signed it).
	Authorization string
}

// Server is a running fake STS.
type Server struct {
	// URL is the endpoint (http://127.0.0.1:<port>), for s3.Options.STSEndpoint.
	URL  string
	srv  *httptest.Server
	opts Options

	mu     sync.Mutex
	calls  []Call
	issued []Credentials
}

// NewServer starts a fake STS on loopback. Close it when done.
func NewServer(opts Options) *Server {
	if opts.PrincipalARN == "" {
		opts.PrincipalARN = "arn:aws:iam::111122223333:user/platform"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Calls returns the requests answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Issued returns the credentials issued so far.
func (s *Server) Issued() []Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Credentials(nil), s.issued...)
}

const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

var (
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	roleARNRE     = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/.{1,512}$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	call := Call{Authorization: r.Header.Get("Authorization")}
	fail := func(status int, typ, code, msg string) {
		call.Code = code
		s.record(call, nil)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			stsNS, typ, code, xmlEscape(msg), requestID())
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		fail(http.StatusBadRequest, "Sender", "InvalidAction", "STS answers POST requests")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		fail(http.StatusBadRequest, "Sender", "MalformedQueryString", "the body is not form-encoded")
		return
	}
	call.Action, call.RoleARN, call.ExternalID, call.SessionName = form.Get("Action"), form.Get("RoleArn"), form.Get("ExternalId"), form.Get("RoleSessionName")
	auth, err := parseAuth(r.Header.Get("Authorization"))
	switch {
	case err != nil:
		fail(http.StatusForbidden, "Sender", "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	case auth.accessKey != s.opts.AccessKeyID || auth.service != "sts":
		fail(http.StatusForbidden, "Sender", "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	case !auth.verify(r, body, s.opts.SecretAccessKey, s.opts.Now()):
		fail(http.StatusForbidden, "Sender", "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
		return
	}
	if call.Action != "AssumeRole" || form.Get("Version") != "2011-06-15" {
		fail(http.StatusBadRequest, "Sender", "InvalidAction", "Could not find operation "+truncate(call.Action, 32)+" for version "+truncate(form.Get("Version"), 16))
		return
	}
	dur := 3600
	if d := form.Get("DurationSeconds"); d != "" {
		if dur, err = strconv.Atoi(d); err != nil || dur < 900 || dur > 43200 {
			fail(http.StatusBadRequest, "Sender", "ValidationError", "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")
			return
		}
	}
	call.DurationSeconds = dur
	switch {
	case !roleARNRE.MatchString(call.RoleARN):
		fail(http.StatusBadRequest, "Sender", "ValidationError", "1 validation error detected: Value at 'roleArn' failed to satisfy constraint")
		return
	case !sessionNameRE.MatchString(call.SessionName):
		fail(http.StatusBadRequest, "Sender", "ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
		return
	case call.ExternalID != "" && (len(call.ExternalID) < 2 || len(call.ExternalID) > 1224 || !externalIDRE.MatchString(call.ExternalID)):
		fail(http.StatusBadRequest, "Sender", "ValidationError", "1 validation error detected: Value at 'externalId' failed to satisfy constraint")
		return
	}
	role, ok := s.opts.Roles[call.RoleARN]
	if !ok || role.Untrusted || role.ExternalID != call.ExternalID {
		// AWS gives the same answer for a missing role, an untrusting trust policy and a wrong
		// external ID.
		fail(http.StatusForbidden, "Sender", "AccessDenied", "User: "+s.opts.PrincipalARN+" is not authorized to perform: sts:AssumeRole on resource: "+call.RoleARN)
		return
	}
	lifetime := time.Duration(dur) * time.Second
	if s.opts.Lifetime > 0 {
		lifetime = s.opts.Lifetime
	}
	c := Credentials{AccessKeyID: "ASIA" + randHex(8), SecretAccessKey: randHex(20), SessionToken: "FwoGZXIvYXdzE" + randHex(48),
		Expiration: s.opts.Now().Add(lifetime).UTC().Truncate(time.Second), RoleARN: call.RoleARN, SessionName: call.SessionName, ExternalID: call.ExternalID}
	if s.opts.OmitSessionToken {
		c.AccessKeyID, c.SessionToken = "AKIA"+randHex(8), ""
	}
	if s.opts.OnIssue != nil {
		if err := s.opts.OnIssue(r.Context(), c); err != nil {
			fail(http.StatusInternalServerError, "Receiver", "InternalFailure", "could not issue credentials")
			return
		}
	}
	s.record(call, &c)
	account, name, _ := strings.Cut(call.RoleARN[strings.Index(call.RoleARN, "::")+2:], ":role/")
	roleName := name[strings.LastIndex(name, "/")+1:]
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="%s"><AssumeRoleResult><SourceIdentity></SourceIdentity><AssumedRoleUser><AssumedRoleId>AROA%s:%s</AssumedRoleId><Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn></AssumedRoleUser><Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials><PackedPolicySize>0</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></AssumeRoleResponse>`,
		stsNS, strings.ToUpper(randHex(8)), xmlEscape(call.SessionName), account, xmlEscape(roleName), xmlEscape(call.SessionName),
		c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration.Format(time.RFC3339), requestID())
}

func (s *Server) record(c Call, issued *Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	if issued != nil {
		s.issued = append(s.issued, *issued)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))[:2*n]
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
