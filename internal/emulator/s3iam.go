package emulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ilovevideoeditor/outputs/internal/testenv"
)

// IAMGateway is a versitygw of the test's own with its internal IAM enabled (the shared one
// runs in single-account mode), so that a test can create and delete users through its admin
// API: the provider/s3 role tests make each credential the fake STS issues a user, and delete
// it when it expires. The IAM cache is off, so a deleted user is refused at once.
type IAMGateway struct {
	S3Server
}

// StartIAMGateway starts versitygw (the binary scripts/services.d/versitygw.sh installed:
// OUTPUTS_TEST_VERSITYGW_BIN, else $OUTPUTS_TOOLS or ~/.cache/outputs-tools/versitygw-v1.8.0)
// on a free loopback port and stops it when the test ends. It skips (fails under CI=true)
// when the binary is missing.
func StartIAMGateway(t testing.TB) IAMGateway {
	t.Helper()
	bin := os.Getenv("OUTPUTS_TEST_VERSITYGW_BIN")
	if bin == "" {
		tools := os.Getenv("OUTPUTS_TOOLS")
		if tools == "" {
			home, _ := os.UserHomeDir()
			tools = filepath.Join(home, ".cache", "outputs-tools")
		}
		bin = filepath.Join(tools, "versitygw-v1.8.0")
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "versitygw binary not found (OUTPUTS_TEST_VERSITYGW_BIN unset; scripts/test.sh installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	for _, d := range []string{"data", "iam"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	g := IAMGateway{S3Server{Endpoint: "http://" + addr, AccessKey: "iam-root", SecretKey: "iam-root-" + Name(""), Region: "us-east-1"}}
	cmd := exec.Command(bin, "--port", addr, "--health", "/health", "--quiet", "--iam-dir", filepath.Join(dir, "iam"),
		"--iam-cache-disable", "posix", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+g.AccessKey, "ROOT_SECRET_KEY="+g.SecretKey)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get(g.Endpoint + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw with IAM did not start: %s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g
}

// CreateUser creates an admin user with the given key (admin: it may use every bucket, as the
// role's permissions policy would let it use the test's bucket).
func (g IAMGateway) CreateUser(ctx context.Context, access, secret string) error {
	return g.CreateUserRole(ctx, access, secret, "admin")
}

// CreateUserRole creates a user with the given key and versitygw role ("admin", "user",
// "userplus": a user or userplus reaches only the buckets it owns; a userplus may create them).
func (g IAMGateway) CreateUserRole(ctx context.Context, access, secret, role string) error {
	body := fmt.Sprintf("<Account><Access>%s</Access><Secret>%s</Secret><Role>%s</Role></Account>", access, secret, role)
	return g.admin(ctx, "/create-user", body)
}

// DeleteUser deletes a user.
func (g IAMGateway) DeleteUser(ctx context.Context, access string) error {
	return g.admin(ctx, "/delete-user?access="+access, "")
}

func (g IAMGateway) admin(ctx context.Context, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, g.Endpoint+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: g.AccessKey, SecretAccessKey: g.SecretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", g.Region, time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("versitygw admin %s: %s", path, resp.Status)
	}
	return nil
}
