package drivetest

import (
	"crypto/md5"
	"encoding/hex"
	"io"
)

// pieceSize is the largest slice the fake allocates for stored bytes. Content is kept as a list of
// pieces so that appending never copies what is already stored and a finished upload becomes the
// file's content as is.
const pieceSize = 1 << 20

// content is a file's bytes (or an upload session's bytes so far). Pieces are never modified once
// appended, so a copied file shares them.
type content struct {
	pieces [][]byte
	size   int64
}

// truncate drops everything from offset n on.
func (c *content) truncate(n int64) {
	if n >= c.size {
		return
	}
	var kept int64
	for i, p := range c.pieces {
		if kept+int64(len(p)) >= n {
			c.pieces = append(c.pieces[:i:i], p[:n-kept])
			if n == kept {
				c.pieces = c.pieces[:i]
			}
			c.size = n
			return
		}
		kept += int64(len(p))
	}
}

// readFrom appends up to limit bytes from r (limit < 0: until EOF) and reports how many it read.
func (c *content) readFrom(r io.Reader, limit int64) (int64, error) {
	var n int64
	for limit < 0 || n < limit {
		size := int64(pieceSize)
		if limit >= 0 && limit-n < size {
			size = limit - n
		}
		buf := make([]byte, size)
		m, err := io.ReadFull(r, buf)
		if m > 0 {
			c.pieces = append(c.pieces, buf[:m:m])
			c.size += int64(m)
			n += int64(m)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if limit >= 0 && n < limit {
				return n, io.ErrUnexpectedEOF
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// section returns a reader over length bytes from offset.
func (c *content) section(offset, length int64) io.Reader {
	var readers []io.Reader
	var pos int64
	end := offset + length
	for _, p := range c.pieces {
		ps, pe := pos, pos+int64(len(p))
		pos = pe
		if pe <= offset || ps >= end {
			continue
		}
		lo, hi := max(offset, ps)-ps, min(end, pe)-ps
		readers = append(readers, &sliceReader{b: p[lo:hi]})
	}
	return io.MultiReader(readers...)
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// md5Hex returns the hex MD5 of the content.
func (c *content) md5Hex() string {
	h := md5.New()
	for _, p := range c.pieces {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// clone returns a content sharing c's (immutable) pieces.
func (c *content) clone() *content {
	return &content{pieces: append([][]byte(nil), c.pieces...), size: c.size}
}
