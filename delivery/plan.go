package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Plan is what to deliver for one render: where it comes from (its workspace), what it is called
// and where it goes. It is data only: store it with the render or put it on a queue when the
// render is submitted (Targets from a destination.Resolver), and deliver it when the render is
// finished.
type Plan struct {
	// WorkspaceID owns the render; every target's integration is leased from it. Required when
	// there are targets.
	WorkspaceID string `json:"workspaceId"`
	// RenderID names the render: 1-128 characters, not "." or "..", without slashes, backslashes
	// or control characters. Part of the CDN key and of {renderId}.
	RenderID string `json:"renderId"`
	// FileName is the output's file name ("render.mp4"). A path is reduced to its last element
	// and surrounding dots and spaces are trimmed (see SanitizeFileName); control characters and
	// invalid UTF-8 are refused. Empty means RenderID + ".mp4".
	FileName string `json:"fileName"`
	// ContentType of the output; detected from the file name when empty.
	ContentType string `json:"contentType,omitempty"`
	// FinishedAt is used for {date} in Options.KeyTemplate; defaults to now.
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Targets are the customer destinations, besides the CDN copy that is always made.
	Targets []destination.Target `json:"targets"`
}

// Source is a finished render's bytes. Set exactly one of ReaderAt and Open, and Size.
type Source struct {
	// ReaderAt is a file (or any random-access source): each attempt of each destination reads
	// it independently through a section reader, so the render is never loaded whole.
	ReaderAt io.ReaderAt
	// Size is the number of bytes of the render; every upload delivers exactly this many.
	Size int64
	// Open, instead of ReaderAt, returns a fresh reader of the render for each attempt (the CDN
	// copy streamed back for a redelivery, for example). The engine closes it.
	Open func(ctx context.Context) (io.ReadCloser, error)
	// CDNKey, when set, is the key of the render's copy in Options.CDN that this source reads
	// (CDNSource and the riverqueue destination jobs set it). A destination is then first
	// written from that copy server-side where the provider offers it
	// (destination.UploadOptions.CopyFrom): no byte passes through the worker, and Open is
	// called only if the upload streams after all. Output.Transfer says which way it went.
	CDNKey string
	// Checksum is the CDN copy's checksum as its upload reported it ("crc32c:..."), if known:
	// a copy is verified against it, and an upload that delivered other bytes fails
	// ("checksum_mismatch").
	Checksum string
	// Checkpoint, when set with a ReaderAt, keeps the upload's provider session as it goes (see
	// destination.UploadOptions.Checkpoint), so that an attempt after a retry, a restart or a
	// crash resumes it and sends only the parts the provider does not hold yet. It names one
	// upload: DeliverCDN and DeliverTarget use it; Deliver, which uploads to many, ignores it.
	// When the output fails for good, the engine removes the session through the uploader's
	// destination.CheckpointAborter and clears the checkpoint.
	Checkpoint destination.Checkpoint
}

// FileSource opens a file as a Source; close the returned closer when the delivery is done.
func FileSource(name string) (Source, io.Closer, error) {
	f, err := os.Open(name)
	if err != nil {
		return Source{}, nil, fmt.Errorf("delivery: open render file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return Source{}, nil, fmt.Errorf("delivery: stat render file: %w", err)
	}
	return Source{ReaderAt: f, Size: st.Size()}, f, nil
}

// CDNSource returns a Source that streams key back from the CDN for every attempt: redeliver a
// render whose file is gone from the worker. Size is the CDN copy's size. Its CDNKey is key, so
// a destination the provider can write from the CDN copy server-side is copied instead (when
// cdn is the Engine's Options.CDN).
func CDNSource(ctx context.Context, cdn destination.CDN, key string) (Source, error) {
	if isNil(cdn) {
		return Source{}, fmt.Errorf("delivery: CDNSource: no CDN: %w", destination.ErrUnsupported)
	}
	rc, size, err := cdn.Open(ctx, key)
	if err != nil {
		return Source{}, fmt.Errorf("delivery: open CDN copy: %w", err)
	}
	rc.Close()
	return Source{Size: size, CDNKey: key, Open: func(ctx context.Context) (io.ReadCloser, error) {
		rc, n, err := cdn.Open(ctx, key)
		if err == nil && n != size {
			rc.Close()
			return nil, fmt.Errorf("delivery: the CDN copy changed size (%d, then %d bytes)", size, n)
		}
		return rc, err
	}}, nil
}

// Limits of the values of a Plan.
const (
	MaxRenderIDLen    = 128
	MaxFileNameLen    = 1024 // before sanitizing; after, at most 255 bytes
	MaxContentTypeLen = 255
	maxIntegrationID  = 255
)

// checked is a validated plan: the names the engine uses.
type checked struct {
	Plan
	name        string // sanitized file name
	contentType string
	leaf        string // the object name under each target's prefix
}

// checkPlan validates p (every target when all, else only target i) and src, and derives the
// names. Problems come back together, naming their fields.
func (e *Engine) checkPlan(p Plan, src Source, all bool, i int) (*checked, error) {
	var probs destination.Problems
	switch id := p.RenderID; {
	case id == "":
		probs.Add("renderId", destination.CodeRequired, "is required")
	case len(id) > MaxRenderIDLen:
		probs.Add("renderId", destination.CodeTooLong, fmt.Sprintf("must be at most %d bytes", MaxRenderIDLen))
	case id == "." || id == "..":
		probs.Add("renderId", destination.CodeInvalid, `must not be "." or ".."`)
	case !utf8.ValidString(id) || strings.ContainsAny(id, `/\`) || strings.ContainsFunc(id, unicode.IsControl):
		probs.Add("renderId", destination.CodeInvalid, "must be valid UTF-8 without slashes, backslashes or control characters")
	}
	switch fn := p.FileName; {
	case len(fn) > MaxFileNameLen:
		probs.Add("fileName", destination.CodeTooLong, fmt.Sprintf("must be at most %d bytes", MaxFileNameLen))
	case !utf8.ValidString(fn) || strings.ContainsFunc(fn, unicode.IsControl):
		probs.Add("fileName", destination.CodeInvalid, "must be valid UTF-8 without control characters")
	}
	if ct := p.ContentType; len(ct) > MaxContentTypeLen || strings.ContainsFunc(ct, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
		probs.Add("contentType", destination.CodeInvalid, fmt.Sprintf("must be printable ASCII of at most %d bytes", MaxContentTypeLen))
	}
	if len(p.Targets) > 0 && p.WorkspaceID == "" {
		probs.Add("workspaceId", destination.CodeRequired, "is required when there are targets")
	}
	for j, t := range p.Targets {
		if all || j == i {
			checkTarget(&probs, j, t)
		}
	}
	if !all && (i < 0 || i >= len(p.Targets)) {
		probs.Add("targets", destination.CodeInvalid, fmt.Sprintf("has no target %d (%d targets)", i, len(p.Targets)))
	}
	checkSource(&probs, src)
	if err := probs.Err(); err != nil {
		return nil, err
	}
	c := &checked{Plan: p, name: SanitizeFileName(p.FileName, p.RenderID), contentType: p.ContentType}
	if c.contentType == "" {
		if c.contentType = mime.TypeByExtension(path.Ext(c.name)); c.contentType == "" {
			c.contentType = "application/octet-stream"
		}
	}
	when := p.FinishedAt
	if when.IsZero() {
		when = e.now()
	}
	c.leaf = expandKeyTemplate(e.opts.KeyTemplate, p.RenderID, c.name, when)
	return c, nil
}

// checkTarget validates a (possibly stored, possibly tampered with) target.
func checkTarget(probs *destination.Problems, j int, t destination.Target) {
	f := "targets[" + strconv.Itoa(j) + "]."
	switch id := t.IntegrationID; {
	case id == "":
		probs.Add(f+"integrationId", destination.CodeRequired, "is required")
	case len(id) > maxIntegrationID || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl):
		probs.Add(f+"integrationId", destination.CodeInvalid, "is not an integration ID")
	}
	if !t.Provider.Valid() {
		probs.Add(f+"provider", destination.CodeInvalid, "is not a supported provider")
	}
	if np, err := destination.NormalizePrefix(t.Prefix); err != nil {
		var ve *destination.ValidationError
		if errors.As(err, &ve) {
			for _, fe := range ve.Errors { // NormalizePrefix names its field "pathPrefix"
				probs.Add(f+"prefix", fe.Code, fe.Message)
			}
		} else {
			probs.Add(f+"prefix", destination.CodeInvalid, "is not a valid prefix")
		}
	} else if np != t.Prefix {
		probs.Add(f+"prefix", destination.CodeInvalid, "is not a normalized prefix (it must end with \"/\" and have no surrounding spaces)")
	}
}

func checkSource(probs *destination.Problems, src Source) {
	hasRA, hasOpen := !isNil(src.ReaderAt), src.Open != nil
	switch {
	case !hasRA && !hasOpen:
		probs.Add("source", destination.CodeRequired, "needs a ReaderAt or an Open function (a nil or typed-nil ReaderAt is none)")
	case hasRA && hasOpen:
		probs.Add("source", destination.CodeInvalid, "must set only one of ReaderAt and Open")
	}
	if src.Size < 0 {
		probs.Add("source.size", destination.CodeInvalid, "must not be negative")
	}
}

// isNil reports whether v is nil or an interface holding a nil pointer, map, slice, func or chan.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}

// SanitizeFileName returns name reduced to a safe object file name: its last path element, with
// control characters, slashes and backslashes removed and surrounding dots and spaces trimmed,
// at most 255 bytes (keeping a short extension); renderID + ".mp4" when nothing is left.
func SanitizeFileName(name, renderID string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if len(name) > 255 {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		name = strings.ToValidUTF8(name[:255-len(ext)], "") + ext
	}
	if name == "" {
		name = strings.Trim(renderID, " .") + ".mp4"
	}
	return name
}

// expandKeyTemplate names the object under a target's prefix.
func expandKeyTemplate(tmpl, renderID, name string, when time.Time) string {
	if tmpl == "" {
		return name
	}
	ext := strings.TrimPrefix(path.Ext(name), ".")
	base := strings.TrimSuffix(name, path.Ext(name))
	r := strings.NewReplacer("{renderId}", renderID, "{name}", base, "{ext}", ext, "{date}", when.UTC().Format("2006-01-02"))
	key := r.Replace(tmpl)
	// The template is the host's, but the values are not: keep the result relative and clean.
	var parts []string
	for _, seg := range strings.Split(key, "/") {
		if seg != "" && seg != "." && seg != ".." {
			parts = append(parts, seg)
		}
	}
	if len(parts) == 0 {
		return name
	}
	return strings.Join(parts, "/")
}
