package emulator

import (
	"crypto/sha256"
	"hash"
	"io"
	"math/rand/v2"
)

// Data is a reader of n pseudo-random bytes generated on the fly (nothing is held in memory)
// that hashes what it produces: after it is drained, Sum returns the SHA-256 of the stream.
type Data struct {
	n   int64
	rng *rand.ChaCha8
	h   hash.Hash
}

// NewData returns a Data of n bytes from seed.
func NewData(n int64, seed byte) *Data {
	var s [32]byte
	s[0] = seed
	return &Data{n: n, rng: rand.NewChaCha8(s), h: sha256.New()}
}

// Read fills p with the next bytes of the stream.
func (d *Data) Read(p []byte) (int, error) {
	if d.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > d.n {
		p = p[:d.n]
	}
	_, _ = d.rng.Read(p)
	d.h.Write(p)
	d.n -= int64(len(p))
	return len(p), nil
}

// Sum returns the SHA-256 of the bytes read so far.
func (d *Data) Sum() []byte { return d.h.Sum(nil) }

// HashReader returns the SHA-256 and length of everything r yields.
func HashReader(r io.Reader) ([]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return h.Sum(nil), n, err
}
