package provider

import (
	"context"
	"fmt"
	"time"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Sweeper is an optional Driver interface for a janitor: SweepAbandoned removes what uploads
// the library started and abandoned (a worker killed mid-upload, whose own cleanup never ran)
// still hold at the provider: S3 multipart uploads and their parts. It touches only uploads of
// exactly the given keys (the object keys the library wrote or tried to write under the
// integration's prefix) initiated before olderThan, never anything else under the prefix (a
// customer's own multipart uploads), and reports how many it removed. in is nil for the
// platform CDN's bucket (CDN.SweepAbandoned).
type Sweeper interface {
	SweepAbandoned(ctx context.Context, b *blob.Bucket, in *destination.Integration, prefix string, keys []string, olderThan time.Time) (int, error)
}

// ErrNoSweeper is returned by SweepAbandoned for an integration whose driver has no Sweeper
// (nothing of an abandoned upload outlives it, or the driver cannot find it). It wraps
// destination.ErrUnsupported, so a janitor that does not import this package can tell it.
//
// GCS and Google Drive have none: an abandoned resumable session cannot be listed, holds
// nothing visible in the bucket or the Drive, is never billed as an object, and expires by
// itself a week after it started. Azure's sweeps blobs that exist only as uncommitted blocks
// (a blob already committed keeps the blocks of an abandoned later upload until Azure drops
// them, after a week).
var ErrNoSweeper = fmt.Errorf("provider: the driver cannot sweep abandoned uploads: %w", destination.ErrUnsupported)

// SweepAbandoned removes the abandoned uploads of keys (object keys under prefix that the library
// wrote or tried to write for in) initiated before olderThan, through the integration's driver
// (Sweeper), and reports how many it removed. Keys outside prefix are ignored.
func (c *Client) SweepAbandoned(ctx context.Context, in *destination.Integration, prefix string, keys []string, olderThan time.Time) (int, error) {
	ctx = bounded(ctx)
	if err := needOlderThan(olderThan); err != nil {
		return 0, err
	}
	e, err := c.acquire(ctx, in)
	if err != nil {
		return 0, err
	}
	defer c.release(e)
	return sweep(ctx, e.drv, e.b, in, string(in.Provider), prefix, keys, olderThan)
}

// SweepAbandoned removes the abandoned uploads of keys (CDN keys under prefix) initiated before
// olderThan through CDNOptions.Driver (a Sweeper), as Client.SweepAbandoned does for an
// integration, and reports how many it removed: a worker killed between starting a CDN upload
// and saving its checkpoint leaves one nothing else names. Without a Driver that sweeps it
// returns ErrNoSweeper. The janitor of delivery/riverqueue calls it for the CDN copies that may
// have left an upload behind.
func (c *CDN) SweepAbandoned(ctx context.Context, prefix string, keys []string, olderThan time.Time) (int, error) {
	if err := needOlderThan(olderThan); err != nil {
		return 0, err
	}
	return sweep(bounded(ctx), c.opts.Driver, c.b, nil, "cdn", prefix, keys, olderThan)
}

func needOlderThan(olderThan time.Time) error {
	if !olderThan.IsZero() {
		return nil
	}
	var probs destination.Problems
	probs.Add("olderThan", destination.CodeRequired, "is required")
	return probs.Err()
}

// sweep has drv (a Sweeper, else ErrNoSweeper) sweep those of keys under prefix in b; name
// names the bucket's provider in errors.
func sweep(ctx context.Context, drv Driver, b *blob.Bucket, in *destination.Integration, name, prefix string, keys []string, olderThan time.Time) (int, error) {
	sw, ok := drv.(Sweeper)
	if !ok {
		return 0, fmt.Errorf("%w (%s)", ErrNoSweeper, name)
	}
	own := make([]string, 0, len(keys))
	for _, k := range keys {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			own = append(own, k)
		}
	}
	if len(own) == 0 {
		return 0, nil
	}
	n, err := sw.SweepAbandoned(ctx, b, in, prefix, own, olderThan)
	if err != nil {
		return n, fmt.Errorf("provider: sweep %s: %w", name, err)
	}
	return n, nil
}
