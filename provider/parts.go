package provider

import (
	"context"
	"crypto/md5"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"sync"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/destination"
)

// ReaderAtUploader is an optional Driver interface: a driver that uploads a file source part by
// part straight from the file, the way blob checks its drivers' optional interfaces. Upload
// uses it when the source is a random-access reader of known size (an *io.SectionReader, the
// delivery engine's file source: see ReaderAtSource) larger than one part; smaller sources and
// every other reader go through the bucket's writer, which buffers parts.
//
// UploadParts writes src as key in b, with the options the writer would have had (wo, after
// UploadPreparer), reading each part through src.Each so that the bytes are counted and
// checksummed as the shared path does; it returns the cleanup of what a failed upload left
// (see UploadPreparer for its contract), also when it fails. Memory per upload must not depend
// on the part size. in is nil for a CDN upload.
type ReaderAtUploader interface {
	UploadParts(ctx context.Context, b *blob.Bucket, in *destination.Integration, key string, src *Parts, wo *blob.WriterOptions) (cleanup func(context.Context) error, err error)
}

// ReaderAtSource is a source Upload reads part by part through a ReaderAtUploader: Size bytes
// from offset 0 through ReadAt. Seek(0, io.SeekCurrent) must report 0 (nothing consumed yet),
// else the source is read as a stream. *io.SectionReader, *bytes.Reader and *strings.Reader
// qualify.
type ReaderAtSource interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	Size() int64
}

// maxParts is the most parts an upload is split into (S3's limit; Azure allows 50,000 blocks):
// larger sources get larger parts.
const maxParts = 10000

// defaultFilePartSize is the part size of a file source when none is configured: parts cost no
// memory, only requests.
const defaultFilePartSize = 16 << 20

// inOrderAlign is the granularity of the part size of an in-order upload: a resumable session's
// chunks (Drive, GCS) are multiples of 256 KiB.
const inOrderAlign = 256 << 10

// Parts is a file source split into equal-size parts (the last may be shorter), handed to a
// ReaderAtUploader. Each part's body is a seekable section of the file (so an SDK can sign and
// resend it) that counts the bytes, computes their CRC32C and turns a failing, panicking or
// short source into a classified error that cancels the upload.
//
// For a driver whose provider keeps the MD5 of every object (Verifier.FullMD5: Drive), the
// parts are in order: Each sends one part at a time, from the first, the part size is a
// multiple of 256 KiB, and the MD5 of the whole source is computed as the parts are read (MD5).
// A checkpoint keeps the MD5's state after each stored part, so a resumed upload goes on from
// there without reading the skipped parts; Skip then takes parts in order only.
type Parts struct {
	ra       io.ReaderAt
	size     int64
	partSize int64
	cancel   func()
	progress func(int64)

	ckpt *checkpoint // nil: not checkpointed (resume.go)

	mu      sync.Mutex
	crcs    []uint32
	done    []bool
	skipped []bool // held by the provider from an earlier attempt (Skip)
	read    int64  // bytes of the parts read whole or skipped
	err     error  // the source's failure, as an *UploadError

	inOrder bool      // the parts go in order and md5 is computed
	md5     hash.Hash // in order: the MD5 of parts [0, md5Next)
	md5Next int
}

// newParts splits src when the upload can go through drv's ReaderAtUploader, else returns nil.
func (s writeSpec) newParts(drv any, cancel func()) *Parts {
	if _, ok := drv.(ReaderAtUploader); !ok {
		return nil
	}
	v, ok := drv.(Verifier)
	inOrder := ok && v.FullMD5() // the MD5 of the whole object needs the bytes in order
	ra, ok := s.src.(ReaderAtSource)
	if !ok {
		return nil
	}
	size := ra.Size()
	if pos, err := ra.Seek(0, io.SeekCurrent); err != nil || pos != 0 || (s.opts.Size >= 0 && s.opts.Size != size) {
		return nil // the shared path reports the mismatch
	}
	ps := int64(s.partSize)
	if ps <= 0 {
		ps = defaultFilePartSize
	}
	if size <= ps {
		return nil // one request: the plain PUT
	}
	if n := (size + ps - 1) / ps; n > maxParts {
		ps = (size + maxParts - 1) / maxParts
		ps = (ps + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
	}
	if inOrder {
		ps = (ps + inOrderAlign - 1) &^ (inOrderAlign - 1)
		if size <= ps {
			return nil
		}
	}
	n := int((size + ps - 1) / ps)
	p := &Parts{ra: ra, size: size, partSize: ps, cancel: cancel, progress: s.opts.Progress,
		crcs: make([]uint32, n), done: make([]bool, n), skipped: make([]bool, n), inOrder: inOrder}
	if inOrder {
		p.md5 = md5.New()
	}
	return p
}

// MD5 returns the MD5 of the whole source once every part was read whole or skipped, in order;
// ok is false before that, and when the parts are not in order (the driver's provider does not
// keep an MD5 of every object: see Parts).
func (p *Parts) MD5() (sum []byte, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.inOrder || p.md5Next != len(p.crcs) {
		return nil, false
	}
	return p.md5.Sum(nil), true
}

// md5StateLocked returns the marshalled state of the running MD5 when it stands after part i
// (i = -1: before any), else nil. p.mu is held.
func (p *Parts) md5StateLocked(i int) []byte {
	if !p.inOrder || p.md5Next != i+1 {
		return nil
	}
	b, err := p.md5.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil
	}
	return b
}

// md5From returns an MD5 restored from a state md5StateLocked gave, or nil.
func md5From(state []byte) hash.Hash {
	h := md5.New()
	if len(state) == 0 || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state) != nil {
		return nil
	}
	return h
}

// md5ForPart returns a copy of the running MD5 for a pass over part i, or nil when the MD5
// does not continue with part i (the parts are not in order, or earlier ones are missing).
func (p *Parts) md5ForPart(i int) hash.Hash {
	p.mu.Lock()
	defer p.mu.Unlock()
	return md5From(p.md5StateLocked(i - 1))
}

// Size returns the source's size in bytes.
func (p *Parts) Size() int64 { return p.size }

// PartSize returns the size of every part but the last.
func (p *Parts) PartSize() int64 { return p.partSize }

// Count returns the number of parts.
func (p *Parts) Count() int { return len(p.crcs) }

// Each calls fn for every part (i from 0) but those skipped (Skip), with at most concurrency
// calls at once (default 4; parts in order: one at a time, in order), body reading that part's
// bytes and size its length. The first error (a failure of the source comes first) cancels the
// context of the other calls and is returned; Each returns once every call has.
func (p *Parts) Each(ctx context.Context, concurrency int, fn func(ctx context.Context, i int, body io.ReadSeeker, size int64) error) error {
	if p.inOrder {
		concurrency = 1
	}
	err := eachIndex(ctx, p.Count(), concurrency, func(ctx context.Context, i int) error {
		if p.isSkipped(i) {
			return nil // stored by the session resumed
		}
		off := int64(i) * p.partSize
		n := min(p.partSize, p.size-off)
		return fn(ctx, i, &partReader{p: p, i: i, off: off, n: n}, n)
	})
	if ferr := p.failure(); ferr != nil {
		return ferr
	}
	return err
}

// eachIndex calls fn(ctx, i) for i from 0 to count-1, at most concurrency calls at once
// (default 4). The first error cancels the context of the other calls and is returned (else
// the cause of ctx's end, if it ended); eachIndex returns once every call has.
func eachIndex(ctx context.Context, count, concurrency int, fn func(ctx context.Context, i int) error) error {
	if concurrency <= 0 {
		concurrency = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, concurrency)
	for i := range count {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := func() (err error) {
				defer recovered(&err) // no caller could recover a panic of this goroutine
				return fn(ctx, i)
			}()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = context.Cause(ctx)
	}
	return first
}

func (p *Parts) isSkipped(i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.skipped[i]
}

// failure returns the source's failure, if any.
func (p *Parts) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Parts) fail(code, detail string, cause error) error {
	return p.failWith(Classified(code, false, detail).UploadError(cause))
}

// failWith records err (an *UploadError) as the source's failure unless one is recorded, and
// cancels the upload.
func (p *Parts) failWith(err error) error {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	err = p.err
	p.mu.Unlock()
	p.cancel()
	return err
}

// partDone records the CRC32C of part i, read whole from its start, and the running MD5 after
// it (nil: none).
func (p *Parts) partDone(i int, crc uint32, n int64, h hash.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done[i] {
		return
	}
	p.done[i], p.crcs[i] = true, crc
	if h != nil && p.inOrder && p.md5Next == i {
		p.md5, p.md5Next = h, i+1
	}
	p.read += n
	if p.progress != nil {
		p.progress(p.read)
	}
}

// finish gives m what the shared path's meter would hold after reading the parts: the bytes
// read, their CRC32C (combined from the parts' in order, read again where a part never was read
// whole), end of source when all were, and the source's failure.
func (p *Parts) finish(m *meter, uploaded bool) {
	m.md5 = nil
	if sum, ok := p.MD5(); ok {
		m.md5, m.md5Limit = fixedSum(sum), -1
	}
	if err := p.failure(); err != nil {
		m.err, m.n = err, p.read
		return
	}
	var crc uint32
	for i := range p.crcs {
		off := int64(i) * p.partSize
		n := min(p.partSize, p.size-off)
		if !p.done[i] {
			if !uploaded {
				m.n = p.read
				return
			}
			c, err := crcOf(p.ra, off, n)
			if err != nil {
				m.err, m.n = Classified(destination.CodeSourceFailed, false, "").UploadError(err), p.read
				return
			}
			p.crcs[i] = c
		}
		crc = crc32cCombine(crc, p.crcs[i], n)
	}
	m.n, m.crc, m.eof = p.size, crc, true
}

// crcOf reads n bytes of ra from off and returns their CRC32C.
func crcOf(ra io.ReaderAt, off, n int64) (uint32, error) {
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, io.NewSectionReader(ra, off, n)); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

// fixedSum is a hash.Hash whose Sum is a known digest (the MD5 Parts computed).
type fixedSum []byte

func (f fixedSum) Write(p []byte) (int, error) { return len(p), nil }
func (f fixedSum) Sum(b []byte) []byte         { return append(b, f...) }
func (f fixedSum) Reset()                      {}
func (f fixedSum) Size() int                   { return len(f) }
func (f fixedSum) BlockSize() int              { return md5.BlockSize }

// partReader is the body of one part: a seekable section of the file that hashes the bytes of
// each pass from its start.
type partReader struct {
	p      *Parts
	i      int
	off, n int64 // the part's offset in the file and its length
	pos    int64
	crc    uint32    // CRC32C of the part's first hashed bytes
	md5    hash.Hash // parts in order: the running MD5 through those bytes, or nil
	hashed int64
}

func (r *partReader) Read(b []byte) (int, error) {
	if err := r.p.failure(); err != nil {
		return 0, err
	}
	if r.pos >= r.n {
		return 0, io.EOF
	}
	if rem := r.n - r.pos; int64(len(b)) > rem {
		b = b[:rem]
	}
	n, err := r.readAt(b, r.off+r.pos)
	if n < 0 || n > len(b) {
		return 0, r.p.fail(destination.CodeSourceFailed, "the source misbehaved", fmt.Errorf("provider: source ReadAt returned %d", n))
	}
	if r.hashed == r.pos {
		if r.hashed == 0 && r.p.inOrder {
			r.md5 = r.p.md5ForPart(r.i)
		}
		r.crc = crc32.Update(r.crc, castagnoli, b[:n])
		if r.md5 != nil {
			r.md5.Write(b[:n])
		}
		r.hashed += int64(n)
	}
	r.pos += int64(n)
	if r.pos == r.n && r.hashed == r.n {
		r.p.partDone(r.i, r.crc, r.n, r.md5)
	}
	switch {
	case n == len(b) && (err == nil || err == io.EOF):
		if r.pos == r.n {
			return n, io.EOF
		}
		return n, nil
	case err == nil || err == io.EOF:
		// ReadAt gave less than asked without another reason: the file is shorter than its size.
		return n, r.p.fail(destination.CodeSourceSizeMismatch, fmt.Sprintf("it ended before its declared %d bytes", r.p.size),
			fmt.Errorf("provider: source ended at %d of %d bytes", r.off+r.pos, r.p.size))
	case destination.AsUploadError(err) != nil:
		return n, r.p.failWith(err)
	}
	return n, r.p.fail(destination.CodeSourceFailed, "", err)
}

// readAt calls the source, turning a panic into an error.
func (r *partReader) readAt(b []byte, off int64) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			n, err = 0, r.p.fail(destination.CodeSourceFailed, "the source panicked", fmt.Errorf("provider: source panicked: %v", v))
		}
	}()
	return r.p.ra.ReadAt(b, off)
}

func (r *partReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.n
	default:
		return 0, errors.New("provider: part Seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("provider: part Seek: negative position")
	}
	r.pos = offset
	if offset == 0 {
		r.crc, r.hashed, r.md5 = 0, 0, nil // a new pass (a signature, a resend)
	}
	return offset, nil
}

// upload is the write path's one call to the store: through the driver's ReaderAtUploader when
// the source is a file larger than a part (returning its Parts), else through the bucket's
// writer. cleanup is replaced by the fast path's.
func (s writeSpec) upload(ctx context.Context, m *meter, wo *blob.WriterOptions, cleanup *func(context.Context) error) (*Parts, error) {
	p := s.newParts(s.drv, m.cancel)
	if p == nil {
		return nil, s.b.Upload(ctx, s.key, m, wo)
	}
	if err := p.loadCheckpoint(ctx, s.opts.Checkpoint, s.key); err != nil {
		*cleanup = nil // nothing was started
		return p, err
	}
	p.keepNonce(wo)
	if p.alreadyCommitted(ctx, s.b, s.key) {
		*cleanup = nil
		p.finish(m, true)
		return p, nil
	}
	c, err := s.drv.(ReaderAtUploader).UploadParts(ctx, s.b, s.in, s.key, p, wo)
	if c != nil {
		*cleanup = c
	}
	p.finish(m, err == nil)
	return p, err
}

// WriterAs prepares (and discards, without writing) the writer b would open for key with wo,
// calling fn with its As function after wo.BeforeWrite: a ReaderAtUploader reads there the
// request its bucket driver would send (the escaped key and metadata, headers, what an
// UploadPreparer set). It reports what fn returned; false when the driver's writer could not be
// prepared.
func WriterAs(ctx context.Context, b *blob.Bucket, key string, wo *blob.WriterOptions, fn func(as func(any) bool) bool) bool {
	o := *wo
	if o.ContentType == "" {
		o.ContentType = ContentType(key) // the writer is prepared at once only with a type
	}
	ok, called := false, false
	errStop := errors.New("provider: writer inspected")
	o.BeforeWrite = func(as func(any) bool) error {
		if wo.BeforeWrite != nil {
			if err := wo.BeforeWrite(as); err != nil {
				return err
			}
		}
		called, ok = true, fn(as)
		return errStop
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewWriter(wctx, key, &o)
	if err == nil {
		cancel() // never commit: a cancelled writer discards
		_ = w.Close()
	}
	return called && ok
}

// crc32cCombine returns the CRC32C of A followed by B from crc1 = CRC32C(A), crc2 = CRC32C(B)
// and len2 = len(B) (zlib's crc32_combine over GF(2), with Castagnoli's polynomial).
func crc32cCombine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	var even, odd [32]uint32
	odd[0] = 0x82f63b78 // Castagnoli, reversed
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd)
		if len2&1 != 0 {
			crc1 = gf2Times(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(&odd, &even)
		if len2&1 != 0 {
			crc1 = gf2Times(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(sq, mat *[32]uint32) {
	for n := range 32 {
		sq[n] = gf2Times(mat, mat[n])
	}
}
