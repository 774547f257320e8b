package s3_test

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
	"github.com/ilovevideoeditor/outputs/provider/s3/ststest"
)

const (
	platformKey       = "AKIAPLATFORMEXAMPLE1"
	platformSecret    = "platform-secret-PLANTED-do-not-leak"
	platformPrincipal = "arn:aws:iam::111122223333:role/outputs-delivery"
	roleARN           = "arn:aws:iam::123456789012:role/outputs-writer"
	externalID        = "outputs-0123456789abcdef0123456789abcdef"
)

// roleEnv is a role-based s3 integration: a versitygw with IAM, a fake STS whose issued
// credentials become versitygw users (deleted when they expire), and a client whose requests
// are recorded.
type roleEnv struct {
	gw  emulator.IAMGateway
	sts *ststest.Server
	in  *destination.Integration
	c   *provider.Client
	rec *emulator.Recorder
	cfg destination.Config
}

func newRoleEnv(t *testing.T, trust ststest.Role, lifetime, refresh time.Duration) *roleEnv {
	t.Helper()
	gw := emulator.StartIAMGateway(t)
	cfg := gw.Bucket(t)
	cfg.AccessKeyID, cfg.SecretAccessKey, cfg.RoleARN, cfg.ExternalID = "", "", roleARN, externalID
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		timers []*time.Timer
	)
	t.Cleanup(func() { // stop the pending deletions, wait for the running ones
		mu.Lock()
		defer mu.Unlock()
		for _, tm := range timers {
			if tm.Stop() {
				wg.Done()
			}
		}
		wg.Wait()
	})
	sts := ststest.NewServer(ststest.Options{AccessKeyID: platformKey, SecretAccessKey: platformSecret,
		PrincipalARN: platformPrincipal, Roles: map[string]ststest.Role{roleARN: trust}, Lifetime: lifetime, OmitSessionToken: true,
		OnIssue: func(ctx context.Context, c ststest.Credentials) error {
			if err := gw.CreateUser(ctx, c.AccessKeyID, c.SecretAccessKey); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			wg.Add(1)
			timers = append(timers, time.AfterFunc(time.Until(c.Expiration), func() { // expired credentials stop working
				defer wg.Done()
				_ = gw.DeleteUser(context.Background(), c.AccessKeyID)
			}))
			return nil
		}})
	t.Cleanup(sts.Close)
	drv := s3.NewDriver(s3.Options{Platform: credentials.NewStaticCredentialsProvider(platformKey, platformSecret, ""),
		PlatformPrincipal: platformPrincipal, STSEndpoint: sts.URL, RefreshWindow: refresh, RetryMaxAttempts: 1})
	var u emulator.Unsealer
	rec := &emulator.Recorder{}
	c := emulator.NewClient(t, &u, provider.Options{WrapTransport: rec.Wrap, PartSize: 5 << 20, Concurrency: 1}, nil, drv)
	return &roleEnv{gw: gw, sts: sts, in: u.Integration(destination.S3, cfg), c: c, rec: rec, cfg: cfg}
}

// checkPlatformKeyStaysHome: the platform's key signs the STS requests and nothing sent to the
// tenant's endpoint.
func (e *roleEnv) checkPlatformKeyStaysHome(t *testing.T) {
	t.Helper()
	var toSTS int
	for _, r := range e.rec.Requests() {
		auth := r.Header.Get("Authorization")
		switch {
		case "http://"+r.Host == e.sts.URL:
			toSTS++
			if !strings.Contains(auth, "Credential="+platformKey+"/") {
				t.Errorf("STS request not signed with the platform key")
			}
		case strings.Contains(auth, platformKey) || strings.Contains(auth, platformSecret):
			t.Errorf("%s %s to the tenant endpoint carries the platform's key", r.Method, r.URL.Path)
		case !strings.Contains(auth, "Credential=AKIA"):
			t.Errorf("%s %s to the tenant endpoint not signed with an issued key: %.40s", r.Method, r.URL.Path, auth)
		}
	}
	if toSTS == 0 {
		t.Error("no request reached STS")
	}
}

// TestRoleDeliver: with a trusting role, the test and a delivery succeed with credentials
// assumed once and cached; STS saw the external ID and a session name naming the workspace.
func TestRoleDeliver(t *testing.T) {
	e := newRoleEnv(t, ststest.Role{ExternalID: externalID}, 0, 0)
	ctx := context.Background()
	if r := e.c.Test(ctx, e.in); !r.OK {
		t.Fatalf("Test = %+v", r)
	}
	if _, err := e.c.Upload(ctx, e.in, "renders/r.mp4", emulator.NewData(12<<20, 1), destination.UploadOptions{Size: 12 << 20}); err != nil {
		t.Fatal(err)
	}
	calls := e.sts.Calls()
	if len(calls) != 1 || calls[0].ExternalID != externalID || calls[0].DurationSeconds != 3600 ||
		!strings.HasPrefix(calls[0].SessionName, "outputs@ws-test.") {
		t.Fatalf("STS calls %+v, want one AssumeRole with the external ID, 1h, a session naming the workspace", calls)
	}
	e.checkPlatformKeyStaysHome(t)
	h := e.c.Health(e.in)
	if h == nil || h.Auth != "assumeRole" || h.Setup == nil || !bytes.Contains(h.Setup.TrustPolicy, []byte(externalID)) ||
		!bytes.Contains(h.Setup.TrustPolicy, []byte(platformPrincipal)) ||
		!bytes.Contains(h.Setup.PermissionsPolicy, []byte(`"arn:aws:s3:::`+e.cfg.Bucket+`/*"`)) {
		t.Fatalf("Health = %+v", h)
	}
}

// TestRoleWrongExternalID: a trust policy requiring another external ID (or not trusting the
// platform) makes the test fail with access_denied naming the trust policy; nothing reaches the
// bucket.
func TestRoleWrongExternalID(t *testing.T) {
	for name, trust := range map[string]ststest.Role{"wrong external ID": {ExternalID: "someone-else"}, "untrusted": {Untrusted: true, ExternalID: externalID}} {
		t.Run(name, func(t *testing.T) {
			e := newRoleEnv(t, trust, 0, 0)
			r := e.c.Test(context.Background(), e.in)
			if r.OK || r.Code != provider.CodeAccessDenied || !strings.Contains(r.Message, "trust policy") || !strings.Contains(r.Message, roleARN) {
				t.Fatalf("Test = %+v, want access_denied naming the trust policy", r)
			}
			_, err := e.c.Upload(context.Background(), e.in, "x.mp4", strings.NewReader("x"), destination.UploadOptions{Size: 1})
			if cl := provider.Classify(err); cl.Code != provider.CodeAccessDenied || cl.Transient {
				t.Fatalf("Upload classified %+v", cl)
			}
			for _, req := range e.rec.Requests() {
				if "http://"+req.Host != e.sts.URL {
					t.Errorf("%s %s reached the bucket without credentials", req.Method, req.URL.Path)
				}
			}
			if strings.Contains(r.Message, platformSecret) {
				t.Fatal("the message leaks the platform secret")
			}
		})
	}
}

// slowReader hands out its data in chunks with a pause between them, so that an upload lasts
// longer than the credentials it started with.
type slowReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
	n     int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.n >= s.chunk {
		time.Sleep(s.pause)
		s.n = 0
	}
	if len(p) > s.chunk-s.n {
		p = p[:s.chunk-s.n]
	}
	n, err := s.r.Read(p)
	s.n += n
	return n, err
}

// TestRoleRefreshMidDelivery: credentials that last 3 s (deleted from versitygw when they
// expire) are renewed 1 s before expiry while a 25 MiB upload that takes about 6 s is under
// way: every part is signed with live credentials and the object arrives whole.
func TestRoleRefreshMidDelivery(t *testing.T) {
	e := newRoleEnv(t, ststest.Role{ExternalID: externalID}, 3*time.Second, time.Second+500*time.Millisecond)
	const size = 25 << 20
	src := &slowReader{r: emulator.NewData(size, 7), chunk: 5 << 20, pause: 1200 * time.Millisecond}
	res, err := e.c.Upload(context.Background(), e.in, "renders/long.mp4", src, destination.UploadOptions{Size: size})
	if err != nil || res.Size != size {
		t.Fatalf("Upload = %+v, %v", res, err)
	}
	if n := len(e.sts.Issued()); n < 2 {
		t.Fatalf("%d credential sets issued during a 6 s upload with 3 s credentials; want a refresh", n)
	}
	out, err := e.gw.Client(nil).GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String("renders/long.mp4")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, n, err := emulator.HashReader(out.Body)
	want := emulator.NewData(size, 7)
	_, _ = io.Copy(io.Discard, want)
	if err != nil || n != size || !bytes.Equal(got, want.Sum()) {
		t.Fatalf("object: %d bytes, %v; want %d matching bytes", n, err, size)
	}
	e.checkPlatformKeyStaysHome(t)
}

// TestRoleSTSThroughGuard: the STS call goes through the SSRF-guarded client: with loopback
// not allowed, the fake STS on 127.0.0.1 is never contacted.
func TestRoleSTSThroughGuard(t *testing.T) {
	e := newRoleEnv(t, ststest.Role{ExternalID: externalID}, 0, 0)
	var u emulator.Unsealer
	drv := s3.NewDriver(s3.Options{Platform: credentials.NewStaticCredentialsProvider(platformKey, platformSecret, ""), STSEndpoint: e.sts.URL, RetryMaxAttempts: 1})
	c := emulator.NewClient(t, &u, provider.Options{AllowedNetworks: []netip.Prefix{}}, nil, drv)
	r := c.Test(context.Background(), u.Integration(destination.S3, e.cfg))
	if r.OK || r.Code != provider.CodeEndpointUnreachable || len(e.sts.Calls()) != 0 {
		t.Fatalf("Test = %+v with %d STS calls; want the guard to refuse STS on loopback", r, len(e.sts.Calls()))
	}
}
