package ststest_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ilovevideoeditor/outputs/provider/s3/ststest"
)

// A fake STS trusting the platform's key for one role with an external ID; the real SDK
// assumes the role, and is refused with another external ID.
func Example() {
	srv := ststest.NewServer(ststest.Options{AccessKeyID: "AKIAPLATFORM", SecretAccessKey: "platform-secret",
		Roles: map[string]ststest.Role{"arn:aws:iam::123456789012:role/writer": {ExternalID: "ext-123"}}})
	defer srv.Close()
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAPLATFORM", "platform-secret", "")})
	for _, ext := range []string{"ext-123", "guessed"} {
		out, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/writer"),
			RoleSessionName: aws.String("outputs"), ExternalId: aws.String(ext)})
		if err != nil {
			fmt.Println(ext, "refused")
			continue
		}
		fmt.Println(ext, "gives", aws.ToString(out.Credentials.AccessKeyId)[:4], "credentials with a session token:", aws.ToString(out.Credentials.SessionToken) != "")
	}
	// Output:
	// ext-123 gives ASIA credentials with a session token: true
	// guessed refused
}
