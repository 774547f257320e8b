package drive

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"gocloud.dev/blob"
	drive "google.golang.org/api/drive/v3"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider"
)

var (
	_ provider.ReaderAtUploader = (*Driver)(nil)
	_ provider.SessionAborter   = (*Driver)(nil)
)

// sessionState is what a checkpoint keeps of an upload (the bytes given provider.Parts.Begin).
type sessionState struct {
	URI    string `json:"uri"`    // the resumable session
	FileID string `json:"id"`     // the reserved ID of the file it creates
	Parent string `json:"parent"` // the folder of that file
}

// UploadParts uploads a file source through one resumable session whose chunks are the parts,
// read straight from the file one at a time (provider.Parts keeps them in order, multiples of
// 256 KiB, and computes the MD5 Drive reports). The file gets what the bucket's writer would
// have sent (escaped name, type, metadata); like the writer, it appears only once the last
// chunk is accepted, its MD5 is checked, and only then is an older file of the key removed.
//
// With a checkpoint, the session is saved before the first chunk and each chunk once Drive
// confirmed it. An upload that resumes a saved session asks Drive how much it holds, skips the
// parts below that offset and sends the rest from there (a part Drive holds in part is read
// whole, for its checksums, and only its missing bytes are sent); a session Drive forgot
// (expired after a week, or unknown) starts afresh. The session creates one file whatever the
// number of attempts, under the ID reserved when it started.
//
// The cleanup is nil: a failed session holds nothing visible (see AbortSession), and a file a
// failed upload completed is deleted at once.
func (d *Driver) UploadParts(ctx context.Context, b *blob.Bucket, _ *destination.Integration, key string, src *provider.Parts, wo *blob.WriterOptions) (func(context.Context) error, error) {
	var bk *bucket
	if !b.As(&bk) {
		return nil, errors.New("drive: UploadParts needs a bucket opened by this package")
	}
	if src.PartSize()%minChunk != 0 {
		return nil, fmt.Errorf("drive: part size %d is not a multiple of 256 KiB", src.PartSize())
	}
	var meta *drive.File
	if !provider.WriterAs(ctx, b, key, wo, func(as func(any) bool) bool { return as(&meta) }) || meta == nil {
		return nil, errors.New("drive: the bucket's writer could not be prepared")
	}
	up, st, raw, err := bk.resumeParts(ctx, src)
	if err != nil {
		return nil, err
	}
	if up == nil {
		body, c, err := bk.prepareCreate(ctx, key, meta, wo.IfNotExist)
		if err != nil {
			return nil, err
		}
		if up, err = bk.startSession(ctx, body, mediaType(meta), src.Size()); err != nil {
			return nil, err
		}
		st = sessionState{URI: up.uri, FileID: c.fileID, Parent: c.parent}
		if raw, err = json.Marshal(&st); err != nil {
			return nil, err
		}
	}
	if err := src.Begin(ctx, raw); err != nil {
		return nil, err
	}
	err = src.Each(ctx, 1, func(ctx context.Context, i int, body io.ReadSeeker, n int64) error {
		start := int64(i) * src.PartSize()
		c := &partChunk{body: body, n: n}
		if up.result == nil && (up.sent < start+n || i == src.Count()-1) {
			if err := up.putChunk(ctx, c, start, i == src.Count()-1); err != nil {
				return err
			}
		}
		// Drive holds the whole part now (or held it already): read what was not sent, for the
		// part's checksums.
		if err := c.seekTo(n); err != nil {
			return err
		}
		return src.Stored(ctx, i, "")
	})
	if err != nil {
		return nil, err
	}
	if up.result == nil {
		return nil, fmt.Errorf("%w: every part was sent but the upload is not complete", ErrSessionLost)
	}
	return nil, bk.settle(ctx, key, st, up.result, src)
}

// resumeParts returns the session of src's checkpoint (and its saved form) with the parts Drive
// holds skipped, or nil when there is none or Drive forgot it.
func (b *bucket) resumeParts(ctx context.Context, src *provider.Parts) (*session, sessionState, []byte, error) {
	var st sessionState
	raw, _ := src.Resumed()
	if raw == nil || json.Unmarshal(raw, &st) != nil || st.URI == "" || st.Parent == "" {
		return nil, st, nil, nil
	}
	up := &session{b: b, uri: st.URI, total: src.Size()}
	switch err := up.query(ctx); {
	case errors.Is(err, ErrSessionLost):
		return nil, st, nil, nil
	case err != nil:
		return nil, st, nil, err
	}
	if up.result != nil {
		up.sent = src.Size()
	}
	for i := range src.Count() {
		if end := min(int64(i+1)*src.PartSize(), src.Size()); end > up.sent || !src.Skip(i) {
			break
		}
	}
	return up, st, raw, nil
}

// settle finishes an upload whose file f is complete: it checks f's MD5 against the source's
// and removes the older file of key the new one replaces. On failure the new file is deleted
// and the older one left as it was.
func (b *bucket) settle(ctx context.Context, key string, st sessionState, f *drive.File, src *provider.Parts) error {
	if sum, ok := src.MD5(); ok && f.Md5Checksum != "" && f.Md5Checksum != hex.EncodeToString(sum) {
		b.discard(ctx, f.Id)
		return ErrChecksum
	}
	_, name := splitKey(key)
	old, err := b.findChild(ctx, st.Parent, name, false, "id")
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		b.discard(ctx, f.Id) // keep the old file rather than two: the write did not happen
		return err
	case old.Id == f.Id:
		return nil // no older file (or it was removed by an earlier attempt)
	}
	if err := b.remove(ctx, old.Id); err != nil {
		b.discard(ctx, f.Id)
		return err
	}
	return nil
}

// AbortSession implements provider.SessionAborter. Drive has no call that cancels a resumable
// session (its API documents none; the fake answers DELETE with 404): the bytes a session
// holds are not visible anywhere and Drive drops them when the session expires, a week after it
// started. So AbortSession only looks whether the session completed: then the file it created
// (the new copy of the key, beside any older one) is deleted, since the upload failed.
func (d *Driver) AbortSession(ctx context.Context, b *blob.Bucket, _ *destination.Integration, _ string, raw []byte) error {
	var bk *bucket
	if !b.As(&bk) {
		return errors.New("drive: AbortSession needs a bucket opened by this package")
	}
	var st sessionState
	if json.Unmarshal(raw, &st) != nil || st.URI == "" {
		return nil
	}
	up := &session{b: bk, uri: st.URI, total: -1}
	switch err := up.query(ctx); {
	case errors.Is(err, ErrSessionLost):
		return nil
	case err != nil:
		return err
	}
	if up.result != nil && up.result.Id == st.FileID {
		bk.discard(ctx, up.result.Id)
	}
	return nil
}

// partChunk is a chunk whose bytes are a part's body, a seekable section of the file that
// hashes the bytes read in order from its start (provider.Parts). Requests read it through
// tracked bodies, closed before it is sought again: a transport that still holds an earlier
// request's body can no longer move it.
type partChunk struct {
	body io.ReadSeeker
	n    int64

	bodies bodyTracker
	pos    int64 // body's position
	high   int64 // bytes of body read in order from its start
}

func (c *partChunk) size() int64 { return c.n }

func (c *partChunk) attach(req *http.Request, off int64) (func(), error) {
	newBody := func() (io.ReadCloser, error) {
		c.bodies.closeAll()
		if err := c.seekTo(off); err != nil {
			return nil, err
		}
		return c.bodies.track(&chunkReader{c: c, r: io.LimitReader(c.body, c.n-off)}), nil
	}
	body, err := newBody()
	if err != nil {
		return nil, err
	}
	req.Body, req.GetBody, req.ContentLength = body, newBody, c.n-off
	return c.bodies.closeAll, nil
}

// seekTo positions the body at off, reading (not sending) the bytes up to off that were not
// read in order yet, so the part's checksums cover them. No body may be open.
func (c *partChunk) seekTo(off int64) error {
	if off == 0 { // a new pass from the start
		c.high = 0
	} else if off > c.high {
		if c.pos != c.high {
			if _, err := c.body.Seek(c.high, io.SeekStart); err != nil {
				return err
			}
			c.pos = c.high
		}
		if _, err := io.CopyN(io.Discard, &chunkReader{c: c, r: c.body}, off-c.high); err != nil {
			return err
		}
	}
	if c.pos == off && off != 0 {
		return nil
	}
	if _, err := c.body.Seek(off, io.SeekStart); err != nil {
		return err
	}
	c.pos = off
	return nil
}

// chunkReader reads c's body, keeping its position.
type chunkReader struct {
	c *partChunk
	r io.Reader
}

func (r *chunkReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.pos += int64(n)
	r.c.high = max(r.c.high, r.c.pos)
	return n, err
}
