package s3_test

import (
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

func TestProbe(t *testing.T) {
	good := emulator.S3(t)
	cases := append(emulator.StandardProbeCases(t),
		emulator.ProbeCase{Name: "wrong secret", Code: provider.CodeInvalidCredentials,
			Mutate: func(c destination.Config) destination.Config {
				c.SecretAccessKey = "wrong-secret-DO-NOT-LEAK-0123456789"
				return c
			}},
		emulator.ProbeCase{Name: "missing bucket", Code: provider.CodeBucketNotFound,
			Mutate: func(c destination.Config) destination.Config { c.Bucket = emulator.Name("missing-"); return c }},
		emulator.ProbeCase{Name: "wrong region", Code: provider.CodeWrongRegion,
			Mutate: func(c destination.Config) destination.Config { c.Region = "eu-west-3"; return c }},
	)
	emulator.CheckProbes(t, destination.S3, good, cases, s3.NewDriver(s3.Options{RetryMaxAttempts: 1}))
}
