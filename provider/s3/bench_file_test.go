package s3_test

import (
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// benchUploadFile compares provider.Client.Upload of a file (parts straight from the file) with
// the same file streamed and with the raw transfer manager given a section reader of the file
// (same part size and concurrency), over https when the TLS instance runs. Each side sends the
// same checksums: "raw" none, as the library sends to S3-compatible endpoints; "raw-checksums"
// (the transfer manager as shipped) a CRC32 trailer per part, as the library sends to AWS and to
// Options.ChecksumEndpoints, which its own client names the server in. Without a checksum
// versitygw computes a CRC64NVME of every part in software, with one only that checksum, so
// mixing them would measure the server's work on the shared cores.
func benchUploadFile(b *testing.B, size int64) {
	srv := emulator.BenchS3(b)
	cfg := srv.Bucket(b)
	var u emulator.Unsealer
	in := u.Integration(destination.S3, cfg)
	c := emulator.NewClient(b, &u, provider.Options{RootCAs: srv.RootCAs}, nil, s3.NewDriver(s3.Options{}))
	tm := transfermanager.New(srv.Client(nil), func(o *transfermanager.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.PartSizeBytes, o.MultipartUploadThreshold, o.Concurrency = 8<<20, 8<<20, 4
	})
	tmSums := transfermanager.New(srv.Client(nil), func(o *transfermanager.Options) {
		o.PartSizeBytes, o.MultipartUploadThreshold, o.Concurrency = 8<<20, 8<<20, 4
	})
	upload := func(tm *transfermanager.Client) func(context.Context, string, io.Reader) error {
		return func(ctx context.Context, key string, src io.Reader) error {
			_, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key),
				Body: src, ContentType: aws.String("video/mp4")})
			return err
		}
	}
	sums := emulator.NewClient(b, &u, provider.Options{RootCAs: srv.RootCAs}, nil, s3.NewDriver(s3.Options{ChecksumEndpoints: []string{cfg.Endpoint}}))
	emulator.BenchUploadFile(b, size, c, in, map[string]emulator.RawUpload{
		"raw": {Upload: upload(tm)}, "raw-checksums": {Upload: upload(tmSums), Client: sums, Integration: in}})
}

// BenchmarkUpload512MiBFile uploads a 512 MiB file (OUTPUTS_BENCH_FILE_MIB sets another size).
func BenchmarkUpload512MiBFile(b *testing.B) { benchUploadFile(b, emulator.BenchFileSize(b, 512<<20)) }
