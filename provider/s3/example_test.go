package s3_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

// secrets is a stand-in for crypto.Keyring: it hands back the one integration's plaintext.
type secrets struct{ cfg destination.Config }

func (s secrets) Unseal(context.Context, *destination.Integration) (destination.Config, error) {
	return s.cfg, nil
}

// Opening a bucket makes no request; ObjectURL is the URL an output reports: Wasabi's endpoint
// comes from the region, and R2 (without publicUrl) gets a presigned GET only when enabled.
func ExampleNewDriver() {
	ctx := context.Background()
	wasabi := destination.Config{Bucket: "renders", AccessKeyID: "AKID", SecretAccessKey: "example-secret", Region: "eu-central-1"}
	c, err := provider.New(secrets{wasabi}, provider.Options{}, s3.NewDriver(s3.Options{}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	in := &destination.Integration{ID: "int-1", Version: 1, Provider: destination.Wasabi, Config: wasabi.WithoutSecrets()}
	u, err := c.ObjectURL(ctx, in, "campaigns/summer 2026/render.mp4")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u)
	// Output: https://s3.eu-central-1.wasabisys.com/renders/campaigns/summer%202026/render.mp4
}
