package ststest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/ilovevideoeditor/outputs/provider/s3/ststest"
)

const role = "arn:aws:iam::123456789012:role/writer"

func client(url, key, secret string) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
}

// TestAssumeRole: the real SDK's AssumeRole gets credentials with a session token and the
// requested lifetime; every refusal comes back as the SDK's API error with AWS's code.
func TestAssumeRole(t *testing.T) {
	s := ststest.NewServer(ststest.Options{AccessKeyID: "AKIAPLATFORM", SecretAccessKey: "platform-secret",
		Roles: map[string]ststest.Role{role: {ExternalID: "ext-1"}}})
	defer s.Close()
	ctx := context.Background()
	out, err := client(s.URL, "AKIAPLATFORM", "platform-secret").AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role),
		RoleSessionName: aws.String("s1"), ExternalId: aws.String("ext-1"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if aws.ToString(c.SessionToken) == "" || aws.ToString(c.AccessKeyId)[:4] != "ASIA" ||
		time.Until(aws.ToTime(c.Expiration)) > 901*time.Second || aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::123456789012:assumed-role/writer/s1" {
		t.Fatalf("credentials %+v %+v", c, out.AssumedRoleUser)
	}
	for _, tc := range []struct {
		name, key, secret, role, ext, code string
	}{
		{"wrong secret", "AKIAPLATFORM", "other", role, "ext-1", "SignatureDoesNotMatch"},
		{"unknown key", "AKIAOTHER", "platform-secret", role, "ext-1", "InvalidClientTokenId"},
		{"wrong external ID", "AKIAPLATFORM", "platform-secret", role, "ext-2", "AccessDenied"},
		{"no external ID", "AKIAPLATFORM", "platform-secret", role, "", "AccessDenied"},
		{"unknown role", "AKIAPLATFORM", "platform-secret", "arn:aws:iam::123456789012:role/other", "ext-1", "AccessDenied"},
		{"bad role ARN", "AKIAPLATFORM", "platform-secret", "arn:aws:s3:::bucket", "ext-1", "ValidationError"},
	} {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(tc.role), RoleSessionName: aws.String("s1")}
		if tc.ext != "" {
			in.ExternalId = aws.String(tc.ext)
		}
		_, err := client(s.URL, tc.key, tc.secret).AssumeRole(ctx, in)
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != tc.code {
			t.Errorf("%s: err = %v, want %s", tc.name, err, tc.code)
		}
	}
	if n := len(s.Issued()); n != 1 {
		t.Errorf("%d credentials issued, want 1", n)
	}
}
