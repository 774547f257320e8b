package s3

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/ilovevideoeditor/outputs/provider"
)

// checkListings is an S3 client API option: it refuses a listing with an object that has no
// LastModified, which the Go CDK's s3blob dereferences without checking (every S3 service
// sends it; an endpoint that leaves it out would crash the process that lists, with every
// other tenant's deliveries in it). Such an answer is a permanent provider_incompatible error.
func checkListings(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("outputs.checkListings",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil {
				return out, md, err
			}
			var objects []types.Object
			switch r := out.Result.(type) {
			case *s3.ListObjectsV2Output:
				objects = r.Contents
			case *s3.ListObjectsOutput:
				objects = r.Contents
			}
			for _, o := range objects {
				if o.LastModified == nil {
					const detail = "a listed object lacks LastModified"
					return out, md, provider.Classified(provider.CodeProviderIncompatible, false, detail).UploadError(errors.New("s3: " + detail))
				}
			}
			return out, md, nil
		}), middleware.Before)
}
