package provider

import (
	"context"
	"errors"
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
// customer's own multipart uploads), and reports how many it removed.
type Sweeper interface {
	SweepAbandoned(ctx context.Context, b *blob.Bucket, in *destination.Integration, prefix string, keys []string, olderThan time.Time) (int, error)
}

// ErrNoSweeper is returned by SweepAbandoned for an integration whose driver has no Sweeper
// (nothing of an abandoned upload outlives it, or the driver cannot find it yet).
var ErrNoSweeper = errors.New("provider: the driver cannot sweep abandoned uploads")

// SweepAbandoned removes the abandoned uploads of keys (object keys under prefix that the library
// wrote or tried to write for in) initiated before olderThan, through the integration's driver
// (Sweeper), and reports how many it removed. Keys outside prefix are ignored.
func (c *Client) SweepAbandoned(ctx context.Context, in *destination.Integration, prefix string, keys []string, olderThan time.Time) (int, error) {
	if olderThan.IsZero() {
		var probs destination.Problems
		probs.Add("olderThan", destination.CodeRequired, "is required")
		return 0, probs.Err()
	}
	e, err := c.acquire(ctx, in)
	if err != nil {
		return 0, err
	}
	defer c.release(e)
	sw, ok := e.drv.(Sweeper)
	if !ok {
		return 0, fmt.Errorf("%w (%s)", ErrNoSweeper, in.Provider)
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
	n, err := sw.SweepAbandoned(ctx, e.b, in, prefix, own, olderThan)
	if err != nil {
		return n, fmt.Errorf("provider: sweep %s: %w", in.Provider, err)
	}
	return n, nil
}
