package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// A checkpointed upload (destination.UploadOptions.Checkpoint) of a file source goes part by
// part through the driver's ReaderAtUploader, which keeps its provider session in the Parts it
// is given:
//
//   - Resumed returns the session and the parts an earlier attempt of the same upload (same key,
//     size and part size) saved. The driver checks them against the provider (S3 ListParts,
//     Azure's uncommitted block list, a session's committed offset) and calls Skip for each part
//     the provider still holds; Each then calls its function for the other parts only.
//   - Begin saves a new session (an upload ID, a session URL) before any part is sent.
//   - Stored saves that a part is held by the provider, with the driver's token for it (an
//     ETag, a block ID), once the provider confirmed it.
//
// The provider package keeps, beside the driver's session, each stored part's CRC32C, so that a
// resumed upload reports the checksum of the whole source without reading the skipped parts.
// Upload clears the checkpoint when the upload succeeds or fails permanently; a cancelled or
// transiently failed upload keeps its session and checkpoint for the next attempt.

// SessionAborter is an optional Driver interface: AbortSession removes what the provider holds
// of the upload of key whose session (the bytes a ReaderAtUploader gave Parts.Begin) a
// checkpoint kept: Client.AbortCheckpointed and CDN.AbortCheckpointed use it. A session the
// provider no longer knows is not an error.
type SessionAborter interface {
	AbortSession(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string, session []byte) error
}

// SkipReporter is an optional interface of a ReaderAtSource: Upload calls Skipped for each range
// of the source that an earlier attempt of a checkpointed upload already stored, so a source
// that checks that an upload took all of its bytes (the delivery engine's) counts the range as
// taken although it is not read again.
type SkipReporter interface {
	Skipped(off, n int64)
}

// ResumedPart is a part an earlier attempt saved with Parts.Stored.
type ResumedPart struct {
	// Index is the part's number, from 0.
	Index int
	// Token is what the driver saved with it.
	Token string
}

// checkpointVersion is the version of the checkpoint's encoding.
const checkpointVersion = 1

// checkpointState is what a checkpoint holds: the upload it belongs to, the driver's session,
// and the parts the provider holds.
type checkpointState struct {
	V        int          `json:"v"`
	Key      string       `json:"key"`
	Size     int64        `json:"size"`
	PartSize int64        `json:"partSize"`
	Started  time.Time    `json:"started"`
	Nonce    string       `json:"nonce,omitempty"` // the upload's tag (uploadMetaKey), set when the session started
	Session  []byte       `json:"session,omitempty"`
	Parts    []storedPart `json:"parts,omitempty"`
}

type storedPart struct {
	I     int    `json:"i"`
	CRC   uint32 `json:"crc"`
	Token string `json:"t,omitempty"`
	// MD5 is, for parts in order, the state of the MD5 of the source through this part
	// (crypto/md5's MarshalBinary), so a resumed upload continues it without reading the part.
	MD5 []byte `json:"md5,omitempty"`
}

// checkpoint is the checkpoint of one Parts upload.
type checkpoint struct {
	cp      destination.Checkpoint
	key     string
	resumed *checkpointState // what Load found for this upload, or nil
	state   checkpointState  // what is saved now
	begun   bool             // Begin saved a session
}

// errCheckpoint marks a failure to load or save a checkpoint: the upload fails transiently.
var errCheckpoint = errors.New("provider: checkpoint")

// loadCheckpoint reads cp for the upload of key through p. A state of another upload (another
// key, size or part size: the render or the settings changed) is ignored.
func (p *Parts) loadCheckpoint(ctx context.Context, cp destination.Checkpoint, key string) error {
	if cp == nil {
		return nil
	}
	c := &checkpoint{cp: cp, key: key, state: checkpointState{V: checkpointVersion, Key: key, Size: p.size, PartSize: p.partSize}}
	b, err := cp.Load(ctx)
	if err != nil {
		return Classified(destination.CodeUnavailable, true, "the upload's checkpoint could not be read").UploadError(fmt.Errorf("%w: load: %w", errCheckpoint, err))
	}
	var st checkpointState
	if len(b) > 0 && json.Unmarshal(b, &st) == nil && st.V == checkpointVersion && st.Key == key &&
		st.Size == p.size && st.PartSize == p.partSize && len(st.Session) > 0 {
		c.resumed = &st
	}
	p.ckpt = c
	return nil
}

// alreadyCommitted reports whether an earlier attempt of this checkpointed upload committed the
// object although its checkpoint was not cleared (a crash between the commit and the clear, or a
// lost answer): key then holds an object of the source's size tagged with the session's nonce.
// The parts the checkpoint names count as skipped; the others are read again for the checksum
// only, and the write path verifies the object as any upload's.
func (p *Parts) alreadyCommitted(ctx context.Context, b *blob.Bucket, key string) bool {
	if p.ckpt == nil || p.ckpt.resumed == nil || p.ckpt.resumed.Nonce == "" {
		return false
	}
	a, err := b.Attributes(ctx, key)
	if err != nil || a.Size != p.size || a.Metadata[uploadMetaKey] != p.ckpt.resumed.Nonce {
		return false
	}
	for _, sp := range p.ckpt.resumed.Parts {
		p.Skip(sp.I)
	}
	return true
}

// keepNonce makes a resumed upload tag its object as the attempt that started the session did:
// the provider took the object's metadata then. The nonce is saved with the session.
func (p *Parts) keepNonce(wo *blob.WriterOptions) {
	if p.ckpt == nil || wo.Metadata == nil {
		return
	}
	if r := p.ckpt.resumed; r != nil && r.Nonce != "" {
		wo.Metadata[uploadMetaKey] = r.Nonce
	}
	p.ckpt.state.Nonce = wo.Metadata[uploadMetaKey]
}

// Checkpointed reports whether the upload keeps a checkpoint (then the driver calls Begin and
// Stored).
func (p *Parts) Checkpointed() bool { return p.ckpt != nil }

// Resumed returns the session and the stored parts an earlier attempt of this upload saved, or
// nil when there is none.
func (p *Parts) Resumed() (session []byte, parts []ResumedPart) {
	if p.ckpt == nil || p.ckpt.resumed == nil {
		return nil, nil
	}
	st := p.ckpt.resumed
	for _, sp := range st.Parts {
		if sp.I >= 0 && sp.I < p.Count() {
			parts = append(parts, ResumedPart{Index: sp.I, Token: sp.Token})
		}
	}
	return st.Session, parts
}

// Begin saves session as the upload's (with no part stored yet, unless the driver resumes it:
// then it calls Begin with the resumed session and Skip for its parts, which keeps them). It
// returns a transient *destination.UploadError when the checkpoint could not be saved. Without
// a checkpoint it does nothing.
func (p *Parts) Begin(ctx context.Context, session []byte) error {
	if p.ckpt == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.ckpt
	if c.resumed != nil && string(c.resumed.Session) == string(session) {
		c.state.Started = c.resumed.Started
	} else {
		c.state.Started = time.Now().UTC().Truncate(time.Second)
		c.state.Parts = nil
	}
	c.state.Session = append([]byte(nil), session...)
	if err := p.saveLocked(ctx); err != nil {
		return err
	}
	c.begun = true
	return nil
}

// sessionKept reports whether the driver saved a session in the checkpoint (only then may a
// failed upload keep what the provider holds for the next attempt).
func (p *Parts) sessionKept() bool {
	if p == nil || p.ckpt == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ckpt.begun
}

// Skip counts part i as stored by an earlier attempt (ResumedPart.Index), with the CRC32C that
// attempt saved, without reading it: Each will not call its function for it. It reports false
// (and does nothing) when the checkpoint has no such part, or, for parts in order (see Parts),
// when i is not the next part or the checkpoint has no MD5 state for it: then the part must be
// read (its bytes need not be sent again).
func (p *Parts) Skip(i int) bool {
	if p.ckpt == nil || p.ckpt.resumed == nil || i < 0 || i >= p.Count() {
		return false
	}
	var sp *storedPart
	for k := range p.ckpt.resumed.Parts {
		if p.ckpt.resumed.Parts[k].I == i {
			sp = &p.ckpt.resumed.Parts[k]
		}
	}
	if sp == nil {
		return false
	}
	off := int64(i) * p.partSize
	n := min(p.partSize, p.size-off)
	p.mu.Lock()
	if p.inOrder && !p.done[i] {
		h := md5From(sp.MD5)
		if h == nil || p.md5Next != i {
			p.mu.Unlock()
			return false
		}
		p.md5, p.md5Next = h, i+1
	}
	if !p.done[i] {
		p.done[i], p.crcs[i], p.skipped[i] = true, sp.CRC, true
		p.read += n
		p.ckpt.state.Parts = append(p.ckpt.state.Parts, *sp)
	}
	read, progress := p.read, p.progress
	p.mu.Unlock()
	if r, ok := p.ra.(SkipReporter); ok {
		r.Skipped(off, n)
	}
	if progress != nil {
		progress(read)
	}
	return true
}

// Stored saves that the provider holds part i, which was read whole, with the driver's token
// for it. It returns a transient *destination.UploadError when the checkpoint could not be
// saved (or the part was not read whole). Without a checkpoint it does nothing.
func (p *Parts) Stored(ctx context.Context, i int, token string) error {
	if p.ckpt == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < 0 || i >= len(p.done) || !p.done[i] {
		return Classified(CodeUnknown, false, "").UploadError(fmt.Errorf("%w: part %d stored before it was read whole", errCheckpoint, i))
	}
	p.ckpt.state.Parts = append(p.ckpt.state.Parts, storedPart{I: i, CRC: p.crcs[i], Token: token, MD5: p.md5StateLocked(i)})
	return p.saveLocked(ctx)
}

// saveLocked writes the state; p.mu is held (saves are serialized).
func (p *Parts) saveLocked(ctx context.Context) error {
	b, err := json.Marshal(&p.ckpt.state)
	if err == nil {
		err = p.ckpt.cp.Save(ctx, b)
	}
	if err != nil {
		return Classified(destination.CodeUnavailable, true, "the upload's checkpoint could not be saved").UploadError(fmt.Errorf("%w: save: %w", errCheckpoint, err))
	}
	return nil
}

// clearCheckpoint empties the checkpoint (the upload is done, or was removed).
func (s writeSpec) clearCheckpoint(ctx context.Context, p *Parts) {
	if p == nil || p.ckpt == nil {
		return
	}
	s.retry(ctx, "clear an upload's checkpoint", func(ctx context.Context) error { return p.ckpt.cp.Save(ctx, nil) })
}

// abortCheckpointed removes the session cp kept for key through drv's SessionAborter, then
// clears cp.
func abortCheckpointed(ctx context.Context, b *blob.Bucket, drv any, in *destination.Integration, key string, cp destination.Checkpoint) error {
	if cp == nil {
		return nil
	}
	raw, err := cp.Load(ctx)
	if err != nil {
		return fmt.Errorf("%w: load: %w", errCheckpoint, err)
	}
	var st checkpointState
	if len(raw) == 0 || json.Unmarshal(raw, &st) != nil || len(st.Session) == 0 {
		return cp.Save(ctx, nil)
	}
	if st.Key != key {
		return fmt.Errorf("provider: the checkpoint is of another upload than %q", key)
	}
	if a, ok := drv.(SessionAborter); ok {
		if err := a.AbortSession(ctx, b, in, key, st.Session); err != nil {
			return err
		}
	}
	return cp.Save(ctx, nil)
}

// AbortCheckpointed removes what the provider still holds of the checkpointed upload of key to
// in (see destination.CheckpointAborter) and clears cp.
func (c *Client) AbortCheckpointed(ctx context.Context, in *destination.Integration, key string, cp destination.Checkpoint) error {
	ctx = bounded(ctx)
	e, err := c.acquire(ctx, in)
	if err != nil {
		return c.uploadError(nil, err)
	}
	defer c.release(e)
	if err := abortCheckpointed(ctx, e.b, e.drv, in, key, cp); err != nil {
		return c.uploadError(e.drv, err)
	}
	return nil
}

var _ destination.CheckpointAborter = (*Client)(nil)
