package provider_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocloud.dev/blob/fileblob"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
)

// TestCDNFileblobContract runs the upload contract on a fileblob CDN: a source failing, short,
// long or cancelled mid-stream leaves no file (not even a temporary one) and the reported key
// and URL name the file that exists.
func TestCDNFileblobContract(t *testing.T) {
	dir := t.TempDir()
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cdn, err := provider.NewCDN(b, provider.CDNOptions{BaseURL: "https://cdn.example.com/r", PartSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	raw := emulator.Raw{Head: func(_ context.Context, name string) (int64, bool, error) {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		return fi.Size(), true, nil
	}}
	emulator.CheckUploadContract(t, emulator.CDNUploader(cdn), nil, 1<<20, raw)
	// Nothing but the finished objects (no temporary or attribute file of a failed upload).
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".attrs") {
			switch name := filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator))); {
			case name == "contract/exact.mp4", name == "contract/zero.mp4", strings.HasPrefix(name, "contract/odd/"):
			default:
				t.Errorf("left behind: %s", name)
			}
		}
		return nil
	})
	r, n, err := cdn.Open(context.Background(), "contract/exact.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.Copy(io.Discard, r); got != n || n != 1<<20+12345 {
		t.Errorf("Open: %d bytes, size %d", got, n)
	}
	if u, _ := cdn.URL(context.Background(), "contract/odd/a b.mp4"); u != "https://cdn.example.com/r/contract/odd/a%20b.mp4" {
		t.Errorf("URL = %q", u)
	}
}

func TestNewCDNValidates(t *testing.T) {
	if _, err := provider.NewCDN(nil, provider.CDNOptions{}); err == nil {
		t.Error("NewCDN(nil) succeeded")
	}
	var _ destination.CDN = (*provider.CDN)(nil)
}
