package drive

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
	"golang.org/x/sync/singleflight"
	drive "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/ilovevideoeditor/outputs/provider"
)

// FolderMimeType is the MIME type of Drive folders.
const FolderMimeType = "application/vnd.google-apps.folder"

// DefaultChunkSize is the default resumable upload chunk size, and the size up to which a blob
// is sent in one request.
const DefaultChunkSize = 8 << 20

// minChunk is the granularity of resumable chunks.
const minChunk = 256 << 10

// fileFields are the file fields the driver reads.
const fileFields = "id,name,mimeType,size,md5Checksum,createdTime,modifiedTime,version,appProperties,webViewLink,webContentLink,parents,driveId"

// Options configures a bucket. The zero value gives the defaults.
type Options struct {
	// Endpoint overrides the Drive API endpoint ("https://www.googleapis.com/drive/v3/"); a
	// drivetest.Server gives its own. Uploads go to /upload/drive/v3/files on the same host.
	Endpoint string
	// ChunkSize is the resumable upload chunk size (default DefaultChunkSize), rounded up to a
	// multiple of 256 KiB. Smaller blobs are sent in one request. Each writer holds one chunk in
	// memory: that is the memory an upload needs, whatever the blob's size.
	ChunkSize int
	// Retry sets pacing and retries.
	Retry RetryPolicy
	// PermanentDelete makes Delete (and the replaced file of an overwriting Copy) delete files
	// outright instead of moving them to the trash.
	PermanentDelete bool
	// FolderCacheTTL is how long a folder ID found for a key prefix is reused (default 10 minutes).
	FolderCacheTTL time.Duration
}

// OpenBucket returns a bucket whose keys live under the Drive folder folderID ("" or "root": My
// Drive's root; a shared drive's ID: that drive's root). hc must add credentials, for example
// oauth2.NewClient with a token source; the driver adds supportsAllDrives to every call so shared
// drives work.
func OpenBucket(ctx context.Context, hc *http.Client, folderID string, opts *Options) (*blob.Bucket, error) {
	b, err := openBucket(ctx, hc, folderID, opts)
	if err != nil {
		return nil, err
	}
	return blob.NewBucket(b), nil
}

// bucket is the driver.Bucket.
type bucket struct {
	svc       *drive.Service
	hc        *http.Client
	uploadURL string
	root      string
	opts      Options
	pacer     *pacer
	ids       idPool

	folders *folderCache
}

// folderCache maps key prefixes to folder IDs. Buckets that a Driver opens for one integration
// share one, so a process creates each folder once however many buckets it opens.
type folderCache struct {
	mu     sync.Mutex
	m      map[string]cachedFolder // root + "\x00" + key prefix ("a/b/") → folder
	flight singleflight.Group
}

func newFolderCache() *folderCache { return &folderCache{m: map[string]cachedFolder{}} }

// maxCachedFolders bounds the folder cache of one bucket.
const maxCachedFolders = 4096

type cachedFolder struct {
	id      string
	expires time.Time
}

func openBucket(ctx context.Context, hc *http.Client, folderID string, opts *Options) (*bucket, error) {
	if hc == nil {
		return nil, errors.New("drive: OpenBucket needs an HTTP client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	o.ChunkSize = (o.ChunkSize + minChunk - 1) / minChunk * minChunk
	if o.FolderCacheTTL <= 0 {
		o.FolderCacheTTL = 10 * time.Minute
	}
	copts := []option.ClientOption{option.WithHTTPClient(hc)}
	if o.Endpoint != "" {
		copts = append(copts, option.WithEndpoint(o.Endpoint))
	}
	svc, err := drive.NewService(ctx, copts...)
	if err != nil {
		return nil, fmt.Errorf("drive: %w", err)
	}
	base, err := url.Parse(svc.BasePath)
	if err != nil {
		return nil, fmt.Errorf("drive: endpoint: %w", err)
	}
	if folderID == "" {
		folderID = "root"
	}
	return &bucket{svc: svc, hc: hc, uploadURL: base.ResolveReference(&url.URL{Path: "/upload/drive/v3/files"}).String(),
		root: folderID, opts: o, pacer: newPacer(o.Retry), folders: newFolderCache()}, nil
}

// ErrorCode implements driver.Bucket.
func (b *bucket) ErrorCode(err error) gcerrors.ErrorCode { return errorCode(err) }

// As exposes *drive.Service.
func (b *bucket) As(i any) bool {
	switch p := i.(type) {
	case **drive.Service:
		*p = b.svc
		return true
	case **bucket:
		*p = b
		return true
	}
	return false
}

// ErrorAs exposes *googleapi.Error and *oauth2.RetrieveError.
func (b *bucket) ErrorAs(err error, i any) bool { return errors.As(err, i) }

// Close implements driver.Bucket.
func (b *bucket) Close() error { return nil }

// SignedURL is not supported by Drive.
func (b *bucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", ErrUnimplemented
}

// folder returns the ID of the folder for a key prefix ("" or ending in "/"), creating the chain
// when create is set. A missing folder with create unset is ErrNotFound. Concurrent callers in
// this process share one lookup and one creation per folder.
func (b *bucket) folder(ctx context.Context, dir string, create bool) (string, error) {
	if dir == "" {
		return b.root, nil
	}
	fc := b.folders
	cacheKey := b.root + "\x00" + dir
	fc.mu.Lock()
	c, ok := fc.m[cacheKey]
	fc.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.id, nil
	}
	flightKey := "find:" + cacheKey
	if create {
		flightKey = "make:" + cacheKey
	}
	// The lookup is shared by every concurrent caller, so it runs detached from this caller's
	// cancellation (keeping its values), under a bound of its own; each caller waits on its own
	// context only.
	ch := fc.flight.DoChan(flightKey, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), folderLookupTimeout)
		defer cancel()
		parentDir, name := splitKey(dir[:len(dir)-1])
		parent, err := b.folder(ctx, parentDir, create)
		if err != nil {
			return "", err
		}
		id, err := b.findFolder(ctx, parent, name)
		if errors.Is(err, ErrNotFound) && create {
			id, err = b.createFolder(ctx, parent, name)
		}
		if err != nil {
			return "", err
		}
		fc.mu.Lock()
		if len(fc.m) >= maxCachedFolders {
			fc.m = map[string]cachedFolder{} // bounded: start over rather than grow
		}
		fc.m[cacheKey] = cachedFolder{id: id, expires: time.Now().Add(b.opts.FolderCacheTTL)}
		fc.mu.Unlock()
		return id, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// folderLookupTimeout bounds one shared folder lookup or creation (with its retries).
const folderLookupTimeout = 2 * time.Minute

// forgetFolders drops cached folders (after Drive said one is gone).
func (b *bucket) forgetFolders() {
	b.folders.mu.Lock()
	b.folders.m = map[string]cachedFolder{}
	b.folders.mu.Unlock()
}

// findChild returns the oldest live child of parent with exactly the given segment name, that
// is a folder (folder true) or a file with content (folder false).
func (b *bucket) findChild(ctx context.Context, parent, seg string, folder bool, fields string) (*drive.File, error) {
	op := "!="
	if folder {
		op = "="
	}
	name := escapeName(seg)
	q := fmt.Sprintf("name = '%s' and '%s' in parents and trashed = false and mimeType %s '%s'",
		qEscape(name), qEscape(parent), op, FolderMimeType)
	var found *drive.File
	err := b.listQuery(ctx, q, "createdTime", "nextPageToken,files(name,mimeType,"+fields+")", func(f *drive.File) bool {
		if f.Name == name && (folder || !isGoogleType(f.MimeType)) {
			found = f
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, ErrNotFound
	}
	return found, nil
}

func (b *bucket) findFolder(ctx context.Context, parent, seg string) (string, error) {
	f, err := b.findChild(ctx, parent, seg, true, "id,name,mimeType")
	if err != nil {
		return "", err
	}
	return f.Id, nil
}

// createFolder creates a folder, or returns the oldest one of that name when a retried create
// turns out to have succeeded or another process made one meanwhile.
func (b *bucket) createFolder(ctx context.Context, parent, seg string) (string, error) {
	meta := &drive.File{Name: escapeName(seg), MimeType: FolderMimeType, Parents: []string{parent}}
	var created *drive.File
	attempt := 0
	err := b.pacer.call(ctx, func() error {
		if attempt++; attempt > 1 {
			// The previous create may have succeeded before its response was lost.
			if id, err := b.findFolder(ctx, parent, seg); err == nil {
				created = &drive.File{Id: id}
				return nil
			}
		}
		var err error
		created, err = b.svc.Files.Create(meta).SupportsAllDrives(true).Fields("id").Context(ctx).Do()
		return err
	})
	if err != nil {
		return "", b.notFoundIsParent(err, parent)
	}
	if oldest, err := b.findFolder(ctx, parent, seg); err == nil {
		return oldest, nil
	}
	return created.Id, nil
}

// notFoundIsParent reports a 404 about a parent as ErrNotFound for the missing folder and
// forgets cached folders, one of which is stale.
func (b *bucket) notFoundIsParent(err error, parent string) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
		b.forgetFolders()
		return fmt.Errorf("%w: folder %s: %w", ErrNotFound, parent, err)
	}
	return err
}

// listQuery runs a files.list query page by page, calling fn for each file until it returns false.
func (b *bucket) listQuery(ctx context.Context, q, orderBy, fields string, fn func(*drive.File) bool) error {
	token := ""
	for {
		var fl *drive.FileList
		err := b.pacer.call(ctx, func() error {
			call := b.svc.Files.List().Q(q).PageSize(1000).SupportsAllDrives(true).IncludeItemsFromAllDrives(true).
				Fields(googleapi.Field(fields)).Context(ctx)
			if orderBy != "" {
				call = call.OrderBy(orderBy)
			}
			if token != "" {
				call = call.PageToken(token)
			}
			var err error
			fl, err = call.Do()
			return err
		})
		if err != nil {
			return err
		}
		for _, f := range fl.Files {
			if !fn(f) {
				return nil
			}
		}
		if fl.NextPageToken == "" {
			return nil
		}
		token = fl.NextPageToken
	}
}

// isGoogleType reports Google Docs types and shortcuts, which have no content to read.
func isGoogleType(mime string) bool {
	return strings.HasPrefix(mime, "application/vnd.google-apps.")
}

// lookup returns the file at key, or ErrNotFound.
func (b *bucket) lookup(ctx context.Context, key string) (*drive.File, error) {
	dir, name := splitKey(key)
	parent, err := b.folder(ctx, dir, false)
	if err != nil {
		return nil, err
	}
	return b.findChild(ctx, parent, name, false, fileFields)
}

// Attributes implements driver.Bucket.
func (b *bucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	f, err := b.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	sa := decodeAttrs(f.AppProperties)
	a := &driver.Attributes{
		CacheControl: sa.CacheControl, ContentDisposition: sa.ContentDisposition,
		ContentEncoding: sa.ContentEncoding, ContentLanguage: sa.ContentLanguage,
		ContentType: f.MimeType, Metadata: sa.Metadata, Size: f.Size,
		CreateTime: parseTime(f.CreatedTime), ModTime: parseTime(f.ModifiedTime),
		ETag:   fmt.Sprintf(`"%s-%d"`, f.Id, f.Version),
		AsFunc: fileAs(f),
	}
	if m, err := hex.DecodeString(f.Md5Checksum); err == nil && len(m) > 0 {
		a.MD5 = m
	}
	return a, nil
}

func fileAs(f *drive.File) func(any) bool {
	return func(i any) bool {
		p, ok := i.(**drive.File)
		if ok {
			*p = f
		}
		return ok
	}
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// NewRangeReader implements driver.Bucket.
func (b *bucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	f, err := b.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	r := &reader{attrs: driver.ReaderAttributes{ContentType: f.MimeType, ModTime: parseTime(f.ModifiedTime), Size: f.Size}, file: f}
	if opts.BeforeRead != nil {
		if err := opts.BeforeRead(r.As); err != nil {
			return nil, err
		}
	}
	if length == 0 || f.Size == 0 || offset >= f.Size {
		r.body = http.NoBody // Drive refuses ranges on empty files; nothing to fetch
		return r, nil
	}
	rng := fmt.Sprintf("bytes=%d-", offset)
	if length > 0 {
		rng = fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	}
	var resp *http.Response
	err = b.pacer.call(ctx, func() error {
		call := b.svc.Files.Get(f.Id).SupportsAllDrives(true).Context(provider.ObjectRead(ctx)) // the content: not bounded
		if offset > 0 || length > 0 {
			call.Header().Set("Range", rng)
		}
		var err error
		resp, err = call.Download()
		return err
	})
	if err != nil {
		return nil, err
	}
	r.body, r.resp = resp.Body, resp
	return r, nil
}

type reader struct {
	body  io.ReadCloser
	resp  *http.Response
	file  *drive.File
	attrs driver.ReaderAttributes
}

func (r *reader) Read(p []byte) (int, error)           { return r.body.Read(p) }
func (r *reader) Close() error                         { return r.body.Close() }
func (r *reader) Attributes() *driver.ReaderAttributes { return &r.attrs }

// As exposes *drive.File and, once the download started, *http.Response.
func (r *reader) As(i any) bool {
	switch p := i.(type) {
	case **drive.File:
		*p = r.file
		return true
	case **http.Response:
		if r.resp != nil {
			*p = r.resp
			return true
		}
	}
	return false
}

// entry is one listed item, with its full key.
type entry struct {
	key  string
	file *drive.File
	dir  bool
}

// ListPaged implements driver.Bucket. Drive cannot list in key order, so each page lists the
// matching folders, sorts the keys and returns those after the page token (the last key of the
// previous page): pages are stable under concurrent inserts and deletes.
func (b *bucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	if opts.Delimiter != "" && opts.Delimiter != "/" {
		return nil, fmt.Errorf("drive: only the \"/\" delimiter is supported: %w", ErrUnimplemented)
	}
	if opts.BeforeList != nil {
		if err := opts.BeforeList(func(any) bool { return false }); err != nil {
			return nil, err
		}
	}
	dir, _ := splitKey(opts.Prefix)
	folderID, err := b.folder(ctx, dir, false)
	if errors.Is(err, ErrNotFound) {
		return &driver.ListPage{}, nil
	}
	if err != nil {
		return nil, err
	}
	var entries []entry
	if err := b.walk(ctx, folderID, dir, opts.Prefix, opts.Delimiter != "", &entries); err != nil {
		return nil, err
	}
	if dir == "" && len(entries) == 0 {
		// An empty listing of the root: make sure the root exists (NotFound otherwise).
		if err := b.pacer.call(ctx, func() error {
			_, err := b.svc.Files.Get(b.root).SupportsAllDrives(true).Fields("id").Context(ctx).Do()
			return err
		}); err != nil {
			return nil, err
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	start := 0
	if len(opts.PageToken) > 0 {
		after := string(opts.PageToken)
		start = sort.Search(len(entries), func(i int) bool { return entries[i].key > after })
	}
	pageSize := opts.PageSize
	if pageSize <= 0 {
		pageSize = 1000
	}
	page := &driver.ListPage{}
	for i := start; i < len(entries); i++ {
		e := entries[i]
		if i > start && e.key == entries[i-1].key {
			continue // duplicate names in Drive: a key is listed once
		}
		if len(page.Objects) == pageSize {
			page.NextPageToken = []byte(page.Objects[pageSize-1].Key)
			break
		}
		o := &driver.ListObject{Key: e.key, IsDir: e.dir, AsFunc: fileAs(e.file)}
		if !e.dir {
			o.ModTime, o.Size = parseTime(e.file.ModifiedTime), e.file.Size
			if m, err := hex.DecodeString(e.file.Md5Checksum); err == nil && len(m) > 0 {
				o.MD5 = m
			}
		}
		page.Objects = append(page.Objects, o)
	}
	return page, nil
}

const listFields = "nextPageToken,files(id,name,mimeType,size,md5Checksum,modifiedTime,createdTime)"

// walk collects the keys under folder (whose key prefix is dir) that start with prefix. With
// delimited set, sub-folders that hold a file somewhere below become directory entries;
// otherwise they are walked.
func (b *bucket) walk(ctx context.Context, folder, dir, prefix string, delimited bool, out *[]entry) error {
	q := fmt.Sprintf("'%s' in parents and trashed = false", qEscape(folder))
	var subdirs []entry
	err := b.listQuery(ctx, q, "", listFields, func(f *drive.File) bool {
		key := dir + unescapeName(f.Name)
		switch {
		case f.MimeType == FolderMimeType:
			key += "/"
			if strings.HasPrefix(key, prefix) || strings.HasPrefix(prefix, key) {
				subdirs = append(subdirs, entry{key: key, file: f, dir: true})
			}
		case isGoogleType(f.MimeType):
		case strings.HasPrefix(key, prefix):
			*out = append(*out, entry{key: key, file: f})
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, d := range subdirs {
		if delimited && strings.HasPrefix(d.key, prefix) {
			has, err := b.hasFiles(ctx, d.file.Id)
			if err != nil {
				return err
			}
			if has {
				*out = append(*out, d)
			}
			continue
		}
		if err := b.walk(ctx, d.file.Id, d.key, prefix, delimited, out); err != nil {
			return err
		}
	}
	return nil
}

// hasFiles reports whether a folder holds a file at any depth (an empty folder is no directory
// in a blob listing).
func (b *bucket) hasFiles(ctx context.Context, folder string) (bool, error) {
	q := fmt.Sprintf("'%s' in parents and trashed = false", qEscape(folder))
	found := false
	var sub []string
	err := b.listQuery(ctx, q, "folder", "nextPageToken,files(id,mimeType)", func(f *drive.File) bool {
		switch {
		case f.MimeType == FolderMimeType:
			sub = append(sub, f.Id)
		case !isGoogleType(f.MimeType):
			found = true
			return false
		}
		return true
	})
	if err != nil || found {
		return found, err
	}
	for _, id := range sub {
		if ok, err := b.hasFiles(ctx, id); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// remove trashes or deletes a file, as Options.PermanentDelete says.
func (b *bucket) remove(ctx context.Context, id string) error {
	return b.pacer.call(ctx, func() error {
		if b.opts.PermanentDelete {
			return b.svc.Files.Delete(id).SupportsAllDrives(true).Context(ctx).Do()
		}
		_, err := b.svc.Files.Update(id, &drive.File{Trashed: true}).SupportsAllDrives(true).Fields("id").Context(ctx).Do()
		return err
	})
}

// Delete implements driver.Bucket.
func (b *bucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	f, err := b.lookup(ctx, key)
	if err != nil {
		return err
	}
	if opts.BeforeDelete != nil {
		if err := opts.BeforeDelete(fileAs(f)); err != nil {
			return err
		}
	}
	err = b.remove(ctx, f.Id)
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// Copy implements driver.Bucket: Drive copies the content server-side; a file already at dstKey
// is removed once the copy exists.
func (b *bucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	src, err := b.lookup(ctx, srcKey)
	if err != nil {
		return err
	}
	dir, name := splitKey(dstKey)
	parent, err := b.folder(ctx, dir, true)
	if err != nil {
		return err
	}
	old, err := b.findChild(ctx, parent, name, false, "id")
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if old != nil && old.Id == src.Id {
		return nil // copying a key onto itself
	}
	meta := &drive.File{Name: escapeName(name), Parents: []string{parent}, MimeType: src.MimeType,
		AppProperties: src.AppProperties}
	if opts.BeforeCopy != nil {
		if err := opts.BeforeCopy(fileAs(meta)); err != nil {
			return err
		}
	}
	// A reserved ID: a copy retried after a lost answer finds the first one instead of making two.
	if meta.Id, err = b.newFileID(ctx); err != nil {
		return err
	}
	var made *drive.File
	err = b.pacer.call(ctx, func() error {
		f, err := b.svc.Files.Copy(src.Id, meta).SupportsAllDrives(true).Fields("id").Context(ctx).Do()
		if err != nil {
			var ok bool
			if f, ok = b.createdEarlier(ctx, meta.Id, err); !ok {
				return err
			}
		}
		made = f
		return nil
	})
	if err != nil {
		return err
	}
	if old != nil {
		if err := b.remove(ctx, old.Id); err != nil {
			b.discard(ctx, made.Id) // keep the old file rather than two
			return err
		}
	}
	return nil
}
