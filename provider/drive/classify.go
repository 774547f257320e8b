package drive

import (
	"strings"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/internal/googleerr"
)

var (
	_ provider.ErrorClassifier     = (*Driver)(nil)
	_ provider.ConsistencyReporter = (*Driver)(nil)
)

// ClassifyError classifies the errors of the Drive API and Google's token service.
func (d *Driver) ClassifyError(err error) (provider.Classification, bool) {
	return googleerr.Classify(err)
}

var (
	_ provider.Verifier  = (*Driver)(nil)
	_ provider.KeyMapper = (*Driver)(nil)
)

// StoredCRC32C reports false: Drive keeps an MD5 only.
func (d *Driver) StoredCRC32C(*blob.Attributes) (uint32, bool) { return 0, false }

// FullMD5 reports true: Drive reports the md5Checksum of every file, so uploads compute the
// MD5 of all their bytes and compare.
func (d *Driver) FullMD5() bool { return true }

// StoredKey returns the path of Drive names key is stored under: each segment through the
// driver's reversible name escaping ("a%b.mp4" is the Drive file "a%25b.mp4").
func (d *Driver) StoredKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = escapeName(s)
	}
	return strings.Join(segs, "/")
}
