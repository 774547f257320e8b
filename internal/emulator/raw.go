package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/ilovevideoeditor/outputs/destination"
)

// RawS3 reads cfg's bucket on s through aws-sdk-go-v2: HeadObject, and the open multipart
// uploads (ListMultipartUploads) as leftovers.
func (s S3Server) RawS3(cfg destination.Config) Raw {
	c := s.Client(nil)
	openUploads := func(ctx context.Context, prefix string) ([]string, error) {
		var ids []string
		in := &s3.ListMultipartUploadsInput{Bucket: aws.String(cfg.Bucket), Prefix: aws.String(prefix)}
		for {
			out, err := c.ListMultipartUploads(ctx, in)
			if err != nil {
				return nil, err
			}
			for _, u := range out.Uploads {
				ids = append(ids, aws.ToString(u.UploadId))
			}
			if !aws.ToBool(out.IsTruncated) {
				return ids, nil
			}
			in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
		}
	}
	return Raw{
		Head: func(ctx context.Context, name string) (int64, bool, error) {
			out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(name)})
			var api smithy.APIError
			if errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey") {
				return 0, false, nil
			}
			if err != nil {
				return 0, false, err
			}
			return aws.ToInt64(out.ContentLength), true, nil
		},
		Sum: func(ctx context.Context, name string) ([]byte, error) {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(name)})
			if err != nil {
				return nil, err
			}
			defer out.Body.Close()
			sum, _, err := HashReader(out.Body)
			return sum, err
		},
		Leftovers: func(ctx context.Context, prefix string) (int, error) {
			ids, err := openUploads(ctx, prefix)
			return len(ids), err
		},
		OpenUploads: openUploads,
	}
}

// RawAzure reads cfg's container on s through azblob: GetProperties, and the uncommitted blocks
// of every blob (listed with uncommitted blobs included) as leftovers.
func (s AzureServer) RawAzure(t testing.TB, cfg destination.Config) Raw {
	cc := s.ContainerClient(t, cfg.AzureContainerName)
	return Raw{
		Head: func(ctx context.Context, name string) (int64, bool, error) {
			p, err := cc.NewBlobClient(name).GetProperties(ctx, nil)
			if bloberror.HasCode(err, bloberror.BlobNotFound) {
				return 0, false, nil
			}
			if err != nil {
				return 0, false, err
			}
			return *p.ContentLength, true, nil
		},
		Sum: func(ctx context.Context, name string) ([]byte, error) {
			r, err := cc.NewBlobClient(name).DownloadStream(ctx, nil)
			if err != nil {
				return nil, err
			}
			defer r.Body.Close()
			sum, _, err := HashReader(r.Body)
			return sum, err
		},
		Leftovers: func(ctx context.Context, prefix string) (int, error) { return UncommittedBlocks(ctx, cc, prefix) },
	}
}

// UncommittedBlocks counts the uncommitted blocks of the blobs under prefix in cc.
func UncommittedBlocks(ctx context.Context, cc *container.Client, prefix string) (int, error) {
	n := 0
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix,
		Include: container.ListBlobsInclude{UncommittedBlobs: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, it := range page.Segment.BlobItems {
			bl, err := cc.NewBlockBlobClient(*it.Name).GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
			if bloberror.HasCode(err, bloberror.BlobNotFound) {
				continue
			}
			if err != nil {
				return 0, err
			}
			n += len(bl.BlockList.UncommittedBlocks)
		}
	}
	return n, nil
}

// RawGCS reads cfg's bucket on fake-gcs-server through its JSON API (objects.get).
func RawGCS(cfg destination.Config) Raw {
	return Raw{Sum: func(ctx context.Context, name string) ([]byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Endpoint+"/download/storage/v1/b/"+url.PathEscape(cfg.Bucket)+"/o/"+url.PathEscape(name)+"?alt=media", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, errors.New("objects.get media: " + resp.Status)
		}
		sum, _, err := HashReader(resp.Body)
		return sum, err
	}, Head: func(ctx context.Context, name string) (int64, bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Endpoint+"/storage/v1/b/"+url.PathEscape(cfg.Bucket)+"/o/"+url.PathEscape(name), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, false, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return 0, false, nil
		}
		if resp.StatusCode != http.StatusOK {
			return 0, false, errors.New("objects.get: " + resp.Status)
		}
		var o struct {
			Size string `json:"size"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
			return 0, false, err
		}
		n, err := strconv.ParseInt(o.Size, 10, 64)
		return n, err == nil, err
	}}
}
