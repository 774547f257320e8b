package s3

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

// Role assumption (Config.RoleARN, s3 only: AWS is the only S3-compatible provider with STS).
// Deliveries call STS AssumeRole with the platform's own credentials (Options.Platform, set
// once by the host, never per integration), the integration's external ID and a session name
// naming the workspace and the integration; the temporary credentials sign the S3 requests.
// They are cached with the integration's client (one per integration version) and renewed
// Options.RefreshWindow before they expire, so a long upload switches to fresh credentials
// between parts. STS requests go to Options.STSEndpoint (default: the regional endpoint of
// Options.STSRegion) through the shared SSRF-guarded client; the platform's credentials sign
// nothing else.

// roleCredentials returns the cached, self-renewing credentials of cfg's role.
func (d *Driver) roleCredentials(in *destination.Integration, cfg destination.Config, hc *http.Client) (aws.CredentialsProvider, error) {
	if in.Provider != destination.S3 {
		return nil, provider.BadConfig("roleArn", "only AWS S3 supports role assumption")
	}
	if d.opts.Platform == nil {
		return nil, provider.BadConfig("roleArn", "this deployment has no platform AWS credentials for role assumption")
	}
	if cfg.ExternalID == "" {
		return nil, provider.BadConfig("externalId", "is missing; the integration must be saved again")
	}
	so := sts.Options{Region: d.opts.STSRegion, Credentials: d.opts.Platform, HTTPClient: hc, RetryMaxAttempts: d.opts.RetryMaxAttempts}
	if d.opts.STSEndpoint != "" {
		so.BaseEndpoint = aws.String(d.opts.STSEndpoint)
	}
	ext := cfg.ExternalID
	p := stscreds.NewAssumeRoleProvider(sts.New(so), cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = &ext
		o.RoleSessionName = sessionName(in)
		o.Duration = d.opts.RoleSessionDuration
	})
	cp := &classifyingProvider{p: p, role: cfg.RoleARN, principal: d.opts.PlatformPrincipal}
	return aws.NewCredentialsCache(cp, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = d.opts.RefreshWindow }), nil
}

var sessionUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// sessionName names the workspace and the integration (at most 64 characters of [\w+=,.@-]),
// so the customer's CloudTrail shows who assumed the role for what.
func sessionName(in *destination.Integration) string {
	n := sessionUnsafe.ReplaceAllString("outputs@"+in.WorkspaceID+"."+in.ID, "-")
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

// classifyingProvider turns a refused AssumeRole into a classified error naming the trust
// policy, so that the test result and the delivery's output say what to fix.
type classifyingProvider struct {
	p         aws.CredentialsProvider
	role      string
	principal string
}

func (c *classifyingProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.p.Retrieve(ctx)
	if err == nil {
		return creds, nil
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return creds, err // network failures: classified as usual
	}
	who := "the platform"
	if c.principal != "" {
		who = c.principal
	}
	switch api.ErrorCode() {
	case "AccessDenied":
		return creds, &provider.ClassifiedError{Err: err, Class: provider.Classification{Code: provider.CodeAccessDenied,
			Message: "the platform may not assume role " + c.role + ": its trust policy must allow " + who +
				" to call sts:AssumeRole with the external ID shown in the integration; paste the trust policy shown there (provider code AccessDenied)"}}
	case "RegionDisabledException":
		return creds, &provider.ClassifiedError{Err: err, Class: provider.Classification{Code: provider.CodeAccessDenied,
			Message: "STS is not activated in the platform's STS region for the customer's account (provider code RegionDisabledException)"}}
	case "Throttling", "InternalFailure", "ServiceUnavailable":
		return creds, &provider.ClassifiedError{Err: err, Class: provider.Classification{Code: provider.CodeUnknown, Transient: true,
			Message: "the AWS Security Token Service failed; try again later (provider code " + api.ErrorCode() + ")"}}
	}
	// The platform's own key was refused, or the request was malformed: not the customer's doing.
	return creds, &provider.ClassifiedError{Err: err, Class: provider.Classification{Code: provider.CodeUnknown,
		Message: "the platform could not call the AWS Security Token Service; this is a problem of the platform's configuration, not of the integration"}}
}

// Health reports the access key, or the role with the policies the customer pastes into AWS.
func (d *Driver) Health(in *destination.Integration, _ time.Time) destination.Health {
	c := in.Config
	if c.RoleARN == "" {
		return destination.Health{Auth: "accessKey", Description: "a long-lived access key (it does not expire; rotating it breaks deliveries until it is updated here)"}
	}
	h := destination.Health{Auth: "assumeRole", Description: "the platform assumes role " + c.RoleARN +
		" with the external ID below; temporary credentials are renewed before they expire"}
	h.Setup = RoleSetup(c, d.opts.PlatformPrincipal)
	if d.opts.Platform == nil {
		h.Warnings = append(h.Warnings, "this deployment has no platform AWS credentials: deliveries through a role fail")
	}
	return h
}

// RoleSetup returns what the customer configures in AWS for cfg's role: the trust policy
// (principal trusted, external ID required) and the permissions policy (write and delete
// under the bucket's prefix only).
func RoleSetup(cfg destination.Config, principal string) *destination.Setup {
	if principal == "" {
		principal = "<the platform's AWS principal ARN>"
	}
	partition := "aws"
	if p := strings.SplitN(cfg.RoleARN, ":", 3); len(p) == 3 && strings.HasPrefix(p[1], "aws") {
		partition = p[1]
	}
	type statement struct {
		Sid       string         `json:"Sid"`
		Effect    string         `json:"Effect"`
		Principal map[string]any `json:"Principal,omitempty"`
		Action    any            `json:"Action"`
		Resource  string         `json:"Resource,omitempty"`
		Condition map[string]any `json:"Condition,omitempty"`
	}
	type policy struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}
	trust, _ := json.MarshalIndent(policy{Version: "2012-10-17", Statement: []statement{{Sid: "OutputsDelivery", Effect: "Allow",
		Principal: map[string]any{"AWS": principal}, Action: "sts:AssumeRole",
		Condition: map[string]any{"StringEquals": map[string]string{"sts:ExternalId": cfg.ExternalID}}}}}, "", "  ")
	perms, _ := json.MarshalIndent(policy{Version: "2012-10-17", Statement: []statement{{Sid: "OutputsWrite", Effect: "Allow",
		Action:   []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:DeleteObject"},
		Resource: "arn:" + partition + ":s3:::" + cfg.Bucket + "/" + cfg.PathPrefix + "*"}}}, "", "  ")
	return &destination.Setup{ExternalID: cfg.ExternalID, Principal: principal, TrustPolicy: trust, PermissionsPolicy: perms,
		Instructions: "In IAM, create the role " + cfg.RoleARN + " with this trust policy, and attach the permissions policy to it (s3:DeleteObject is used only by the connection test)."}
}
