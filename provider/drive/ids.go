package drive

import (
	"context"
	"errors"
	"net/http"
	"sync"

	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
)

// idBatch is how many file IDs one files.generateIds call reserves.
const idBatch = 20

// idPool holds file IDs reserved with files.generateIds. Every create and copy names one, so a
// request retried after its answer was lost cannot make a second file: Drive refuses the ID the
// first attempt used (409), and the driver takes that file as the result.
type idPool struct {
	mu  sync.Mutex
	ids []string
}

// newFileID returns a reserved file ID.
func (b *bucket) newFileID(ctx context.Context) (string, error) {
	b.ids.mu.Lock()
	defer b.ids.mu.Unlock()
	if len(b.ids.ids) == 0 {
		err := b.pacer.call(ctx, func() error {
			r, err := b.svc.Files.GenerateIds().Count(idBatch).Space("drive").Type("files").Fields("ids").Context(ctx).Do()
			if err == nil {
				b.ids.ids = r.Ids
			}
			return err
		})
		if err != nil {
			return "", err
		}
		if len(b.ids.ids) == 0 {
			return "", errors.New("drive: files.generateIds returned no IDs")
		}
	}
	id := b.ids.ids[len(b.ids.ids)-1]
	b.ids.ids = b.ids.ids[:len(b.ids.ids)-1]
	return id, nil
}

// createdEarlier reports the file that an earlier attempt of a create or copy with the reserved
// id made, when err says the ID is already in use (409): that attempt succeeded and only its
// answer was lost.
func (b *bucket) createdEarlier(ctx context.Context, id string, err error) (*drive.File, bool) {
	var ge *googleapi.Error
	if id == "" || !errors.As(err, &ge) || ge.Code != http.StatusConflict {
		return nil, false
	}
	f, gerr := b.svc.Files.Get(id).SupportsAllDrives(true).Fields(fileFields).Context(ctx).Do()
	if gerr != nil || f.Trashed {
		return nil, false
	}
	return f, true
}

// discard deletes a file this bucket just made (a failed overwrite's new copy) for good, whatever
// ctx's state: it is never a file the caller had before.
func (b *bucket) discard(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	_ = b.pacer.call(ctx, func() error {
		return b.svc.Files.Delete(id).SupportsAllDrives(true).Context(ctx).Do()
	})
}
