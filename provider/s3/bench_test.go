package s3_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// benchUpload compares provider.Client.Upload with the raw transfer manager (same part size and
// concurrency, checksums when required, the SDK's default HTTP client) on versitygw, over https
// when the TLS instance runs (production's path: UNSIGNED-PAYLOAD), else over http.
func benchUpload(b *testing.B, size int64, withRaw bool) {
	srv := emulator.BenchS3(b)
	cfg := srv.Bucket(b)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, cfg)
	c := emulator.NewClient(b, &u, provider.Options{RootCAs: srv.RootCAs}, nil, s3.NewDriver(s3.Options{}))
	var raw func(ctx context.Context, key string, src *emulator.Data) error
	if withRaw {
		tm := transfermanager.New(srv.Client(nil), func(o *transfermanager.Options) {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.PartSizeBytes, o.MultipartUploadThreshold, o.Concurrency = 8<<20, 8<<20, 4
		})
		raw = func(ctx context.Context, key string, src *emulator.Data) error {
			_, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key),
				Body: src, ContentType: aws.String("video/mp4")})
			return err
		}
	}
	emulator.BenchUpload(b, size, c, in, raw)
}

func BenchmarkUpload256MiB(b *testing.B) { benchUpload(b, 256<<20, true) }
func BenchmarkUpload512MiB(b *testing.B) { benchUpload(b, 512<<20, true) }
func BenchmarkUpload1GiB(b *testing.B)   { benchUpload(b, 1<<30, false) }
