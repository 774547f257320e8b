package provider

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// ServerSideCopier is an optional Driver interface: a driver whose provider can write an object
// from the platform CDN's copy without its bytes passing through the process
// (destination.UploadOptions.CopyFrom). Client.Upload tries it first and streams the source
// instead when the copy is not possible, refused or fails, so a copier needs no fallback of its
// own; it verifies the copied object as it verifies a streamed one.
//
// CopyFromCDN writes key in b from src, with the options the bucket's writer would have had
// (wo, after UploadPreparer: content type, the upload's metadata, which must be stored, an
// ACL), reporting progress through src.Each or src.Copied. It returns an error wrapping
// ErrCopyUnsupported, having sent nothing to b, when it cannot work (the CDN is on another
// provider or service, the object is too large); otherwise the cleanup of what a failed copy
// left (see UploadPreparer for its contract), also when it fails. in is the destination's
// integration.
type ServerSideCopier interface {
	CopyFromCDN(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string, src *CDNObject, wo *blob.WriterOptions) (cleanup func(context.Context) error, err error)
}

// ErrCopyUnsupported is wrapped by a ServerSideCopier's error when it did not try to copy
// (nothing was sent): the upload streams instead.
var ErrCopyUnsupported = errors.New("provider: no server-side copy from this CDN")

// CopyUnsupported returns an error wrapping ErrCopyUnsupported that says why.
func CopyUnsupported(why string) error { return fmt.Errorf("%w: %s", ErrCopyUnsupported, why) }

// DefaultCopyPartSize is the part size of a server-side copy in parts (S3 UploadPartCopy, Azure
// Put Block From URL) when Options.PartSize is smaller: parts cost no memory, only requests.
const DefaultCopyPartSize = 64 << 20

// CDNObject is the platform CDN's copy a ServerSideCopier writes an object from.
type CDNObject struct {
	bucket      *blob.Bucket
	key         string
	attrs       *blob.Attributes
	partSize    int64
	concurrency int
	progress    func(int64)

	mu     sync.Mutex
	copied int64
}

// Bucket returns the CDN's bucket: a copier reads its provider's client there (As), its
// provider-side bucket and object names (WriterAs), or a signed URL of the object.
func (o *CDNObject) Bucket() *blob.Bucket { return o.bucket }

// Key returns the object's key in Bucket, as the CDN's upload took it (not escaped).
func (o *CDNObject) Key() string { return o.key }

// Size returns the object's size in bytes.
func (o *CDNObject) Size() int64 { return o.attrs.Size }

// Attributes returns the object's attributes, read from the CDN just before the copy (its ETag
// pins the version to copy).
func (o *CDNObject) Attributes() *blob.Attributes { return o.attrs }

// PartSize returns the size of every part of a copy in parts but the last: the client's part
// size or DefaultCopyPartSize, whichever is larger, at most limit, and large enough that there
// are at most maxParts parts. ok is false when no part size within limit is (the copier then
// reports ErrCopyUnsupported).
func (o *CDNObject) PartSize(limit int64, maxParts int) (size int64, ok bool) {
	ps := min(max(o.partSize, DefaultCopyPartSize), limit)
	if n := (o.Size() + ps - 1) / ps; n > int64(maxParts) {
		ps = (o.Size() + int64(maxParts) - 1) / int64(maxParts)
		ps = (ps + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
	}
	return ps, ps <= limit
}

// Count returns the number of parts of partSize bytes (the last may be shorter), at least 1.
func (o *CDNObject) Count(partSize int64) int {
	return int(max(1, (o.Size()+partSize-1)/partSize))
}

// Each calls fn for every range of partSize bytes of the object (i from 0, off its offset, n
// its length), at most the upload's concurrency at once, and reports the progress of each call
// that returns nil. The first error cancels the context of the other calls and is returned;
// Each returns once every call has.
func (o *CDNObject) Each(ctx context.Context, partSize int64, fn func(ctx context.Context, i int, off, n int64) error) error {
	return eachIndex(ctx, o.Count(partSize), o.concurrency, func(ctx context.Context, i int) error {
		off := int64(i) * partSize
		n := min(partSize, o.Size()-off)
		if err := fn(ctx, i, off, n); err != nil {
			return err
		}
		o.Copied(n)
		return nil
	})
}

// Copied reports n more bytes copied (Each does it for ranged copies).
func (o *CDNObject) Copied(n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.copied = min(o.copied+n, o.Size())
	if o.progress != nil && n > 0 {
		o.progress(o.copied)
	}
}

// ParseCRC32C parses the UploadResult.Checksum form of a CRC32C (FormatCRC32C).
func ParseCRC32C(s string) (uint32, bool) {
	b64, ok := strings.CutPrefix(s, "crc32c:")
	if !ok {
		return 0, false
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// copyFromCDN writes s.key from the CDN copy cs server-side when s's driver is a
// ServerSideCopier and cs is in a *CDN. handled is false when the upload must stream instead
// (nothing to copy from, the copy not possible, refused or failed, or the copied object did not
// verify: then nothing of the copy is left, and recheck, when not nil, must run once the
// stream is done: a part copy the server was still running can bring an aborted upload back,
// so the copy's cleanup looks again); when handled, err is nil (the object is the CDN
// copy's bytes, verified as a streamed upload's) or the upload's failure (cancelled).
func (s writeSpec) copyFromCDN(ctx context.Context, cs *destination.CopySource) (res destination.UploadResult, handled bool, recheck func(), err error) {
	cdn, ok := cs.CDN.(*CDN)
	cp, ok2 := s.drv.(ServerSideCopier)
	if !ok || !ok2 || cdn == nil || cs.Key == "" || cs.Size < 0 || (s.opts.Size >= 0 && s.opts.Size != cs.Size) {
		return res, false, nil, nil
	}
	stream := func(why string, err error) (destination.UploadResult, bool, func(), error) {
		msg := ""
		if err != nil {
			msg = classifyWith(err, s.drv).Message
		}
		s.log.Debug("server-side copy not used: streaming", "key", s.key, "why", why, "error", msg)
		return destination.UploadResult{}, false, recheck, nil
	}
	a, err := cdn.b.Attributes(ctx, cs.Key)
	switch {
	case err != nil:
		return stream("the CDN copy could not be read", err)
	case a.Size != cs.Size:
		return stream("the CDN copy's size is not the source's", nil)
	}
	want := sent{n: cs.Size, md5: a.MD5}
	want.crc, want.hasCRC = ParseCRC32C(cs.Checksum)
	if v, ok := cdn.opts.Driver.(Verifier); ok {
		if crc, ok := v.StoredCRC32C(a); ok {
			if want.hasCRC && crc != want.crc {
				return stream("the CDN copy's checksum is not the one recorded", nil)
			}
			want.crc, want.hasCRC = crc, true
		}
	}
	nonce := newNonce()
	wo, _ := s.writerOptions(nonce) // the preparer's cleanup is its writer's; the copier has its own
	obj := &CDNObject{bucket: cdn.b, key: cs.Key, attrs: a, partSize: int64(s.partSize), concurrency: s.concurrency,
		progress: s.opts.Progress}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cleanup, err := cp.CopyFromCDN(cctx, s.b, s.in, s.key, obj, wo)
	done := func(verified string) (destination.UploadResult, bool, func(), error) {
		res := destination.UploadResult{Key: storedKey(s.drv, s.key), Size: cs.Size, Verified: verified,
			Transfer: destination.TransferCopy}
		if want.hasCRC {
			res.Checksum = FormatCRC32C(want.crc)
		}
		obj.Copied(cs.Size)
		return res, true, nil, nil
	}
	switch {
	case errors.Is(err, ErrCopyUnsupported):
		return stream(strings.TrimPrefix(err.Error(), ErrCopyUnsupported.Error()+": "), nil)
	case err == nil:
		v, verr := verify(ctx, s, want, nonce, true)
		if verr == nil {
			return done(v)
		}
		// The provider committed other bytes than the CDN copy's: remove them (they are ours).
		s.retry(ctx, "delete a damaged copy", func(ctx context.Context) error {
			if err := s.b.Delete(ctx, s.key); err != nil && !isNotFound(err) {
				return err
			}
			return nil
		})
		s.log.Warn("a server-side copy did not verify: streaming", "key", s.key, "error", classifyWith(verr, s.drv).Message)
		return stream("the copy did not verify", verr)
	case ctx.Err() == nil && ambiguous(classifyWith(err, s.drv)):
		// The answer may have been lost after the provider copied: the stored object decides.
		if v, verr := verify(ctx, s, want, nonce, false); verr == nil && v != "" {
			return done(v)
		}
	}
	if cleanup != nil {
		s.retry(ctx, "clean up a failed copy", cleanup)
		recheck = func() { s.retry(ctx, "clean up a failed copy", cleanup) }
	}
	if ctx.Err() != nil {
		return res, true, nil, Classified(destination.CodeCanceled, false, "").UploadError(fmt.Errorf("provider: copy to %s: %w", s.key, context.Cause(ctx)))
	}
	return stream("the provider refused or failed the copy", err)
}
