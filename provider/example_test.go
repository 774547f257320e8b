package provider_test

import (
	"context"
	"errors"
	"fmt"
	"gocloud.dev/blob/fileblob"
	"io"
	"log"
	"os"
	"strings"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// The Client is built once per process, with the keyring that unseals credentials and one
// driver per provider family; every integration then gets its own bucket on first use.
func ExampleNew() {
	var keyring destination.Unsealer // crypto.Keyring in production
	c, err := provider.New(keyring, provider.Options{},
		s3.NewDriver(s3.Options{PresignR2: true}),
		gcs.NewDriver(gcs.Options{}),
		azure.NewDriver(azure.Options{}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	var in *destination.Integration // from the Store
	f, err := os.Open("render.mp4")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	// A section reader of the file (a provider.ReaderAtSource) lets S3 and Azure send parts
	// straight from the file, without a buffer per part.
	src := io.NewSectionReader(f, 0, st.Size())
	res, err := c.Upload(context.Background(), in, in.Config.PathPrefix+"render.mp4", src, destination.UploadOptions{Size: st.Size()})
	var ue *destination.UploadError
	if errors.As(err, &ue) {
		log.Fatalf("%s: %s (retry may help: %v, after %v)", ue.Code, ue.Message, ue.Transient, ue.RetryAfter)
	}
	fmt.Println(res.Key, res.URL, res.Size, res.Checksum, res.Verified)
}

func ExampleClassify() {
	err := fmt.Errorf("upload: %w", destination.ErrReconnectRequired)
	c := provider.Classify(err)
	fmt.Println(c.Code, c.Transient)
	// Output: reconnect_required false
}

func ExampleNewCDN() {
	dir, err := os.MkdirTemp("", "cdn")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := fileblob.OpenBucket(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	// For an s3blob, gcsblob or azureblob CDN bucket, set CDNOptions.Driver to the provider's
	// driver for its cleanup and verification.
	cdn, err := provider.NewCDN(b, provider.CDNOptions{BaseURL: "https://cdn.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	res, err := cdn.Upload(context.Background(), "renders/r1/my video.mp4", strings.NewReader("video bytes"),
		destination.UploadOptions{Size: 11})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.URL, res.Size, res.Checksum, res.Verified)
	// Output: https://cdn.example.com/renders/r1/my%20video.mp4 11 crc32c:ci0epQ== md5
}
