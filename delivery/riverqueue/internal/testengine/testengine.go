// Package testengine is a small stand-in for the delivery engine in riverqueue's unit tests,
// where the queue's behaviour is under test (blocking, counting, failing an upload on cue): it
// copies renders between directories, leases each target's integration from a
// destination.Store on every attempt (as the engine does), and fails with invalid_credentials
// when the integration's access key ID is "bad". TestRealEngineOnS3 and the multi-process test
// run the real engine.
package testengine

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/ilovevideoeditor/outputs/delivery/riverqueue"
	"github.com/ilovevideoeditor/outputs/destination"
)

// Engine implements riverqueue.Engine and riverqueue.CDNReader over two directories.
type Engine struct {
	Store   destination.Store
	CDNDir  string
	DestDir string
	// OnDeliver, when set, runs before a target is written (counting, blocking, failing it).
	OnDeliver func(ctx context.Context, p riverqueue.Plan, i int) error

	mu     sync.Mutex
	aborts []string
}

var _ riverqueue.SessionAborter = (*Engine)(nil)

// AbortCDN records the removal of the CDN copy's session ("cdn/<render>") and clears cp.
func (e *Engine) AbortCDN(ctx context.Context, p riverqueue.Plan, cp destination.Checkpoint) error {
	return e.abort(ctx, "cdn/"+p.RenderID, cp)
}

// AbortTarget records the removal of target i's session ("<integration>/<render>") and clears cp.
func (e *Engine) AbortTarget(ctx context.Context, p riverqueue.Plan, i int, cp destination.Checkpoint) error {
	return e.abort(ctx, p.Targets[i].IntegrationID+"/"+p.RenderID, cp)
}

func (e *Engine) abort(ctx context.Context, what string, cp destination.Checkpoint) error {
	e.mu.Lock()
	e.aborts = append(e.aborts, what)
	e.mu.Unlock()
	return cp.Save(ctx, nil)
}

// Aborts returns the sessions removed so far, in order.
func (e *Engine) Aborts() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.aborts)
}

// CDNKey is the CDN key of a plan's render.
func CDNKey(p riverqueue.Plan) string { return "renders/" + p.RenderID + "/" + p.FileName }

// DestPath is where the target of integrationID receives the render of p.
func (e *Engine) DestPath(p riverqueue.Plan, integrationID string) string {
	return filepath.Join(e.DestDir, integrationID, p.RenderID, p.FileName)
}

// DeliverCDN copies src to CDNDir.
func (e *Engine) DeliverCDN(ctx context.Context, p riverqueue.Plan, src riverqueue.Source) (string, destination.Output, error) {
	key := CDNKey(p)
	n, err := write(filepath.Join(e.CDNDir, key), io.NewSectionReader(src.ReaderAt, 0, src.Size))
	if err != nil {
		return "", destination.Output{Status: destination.StatusFailed, ErrorCode: "unavailable", Error: "the CDN rejected the copy"}, err
	}
	return "file:///" + key, destination.Output{OutputKey: key, OutputSizeBytes: n, Status: destination.StatusCompleted,
		Transfer: destination.TransferStream}, ctx.Err()
}

// DeliverTarget leases the integration and copies src.Open's stream to DestPath.
func (e *Engine) DeliverTarget(ctx context.Context, p riverqueue.Plan, i int, src riverqueue.Source) destination.Output {
	t := p.Targets[i]
	out := destination.Output{IntegrationID: t.IntegrationID, Provider: t.Provider, Status: destination.StatusFailed}
	in, err := e.Store.Get(ctx, p.WorkspaceID, t.IntegrationID)
	switch {
	case err != nil || !in.IsActive:
		out.ErrorCode, out.Error = "integration_unavailable", "the integration is missing or inactive"
		return out
	case in.Config.AccessKeyID == "bad":
		out.ErrorCode, out.Error = "invalid_credentials", "the access key was rejected"
		return out
	}
	if e.OnDeliver != nil {
		if err := e.OnDeliver(ctx, p, i); err != nil {
			out.ErrorCode, out.Error = "unknown", "the delivery failed"
			return out
		}
	}
	rc, err := src.Open(ctx)
	if err != nil {
		out.ErrorCode, out.Error = "source_failed", "the CDN copy could not be read"
		return out
	}
	defer rc.Close()
	n, err := write(e.DestPath(p, t.IntegrationID), rc)
	if err != nil {
		out.ErrorCode, out.Error = "unavailable", "the destination rejected the upload"
		return out
	}
	out.Status, out.OutputKey, out.OutputSizeBytes = destination.StatusCompleted, t.Prefix+p.FileName, n
	out.Transfer = destination.TransferStream // streamed from src
	out.OutputURL = "file:///" + t.IntegrationID + "/" + out.OutputKey
	return out
}

// Open streams a CDN copy back.
func (e *Engine) Open(_ context.Context, key string) (io.ReadCloser, int64, error) {
	f, err := os.Open(filepath.Join(e.CDNDir, key))
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// OpenRender opens the render file of p in dir (named after the render ID).
func OpenRender(dir string) func(context.Context, riverqueue.Plan) (riverqueue.Source, io.Closer, error) {
	return func(_ context.Context, p riverqueue.Plan) (riverqueue.Source, io.Closer, error) {
		f, err := os.Open(filepath.Join(dir, p.RenderID))
		if err != nil {
			return riverqueue.Source{}, nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return riverqueue.Source{}, nil, err
		}
		return riverqueue.Source{ReaderAt: f, Size: st.Size()}, f, nil
	}
}

// write stores r at path atomically (temporary file, rename), like an object store commit.
func write(path string, r io.Reader) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".part-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return n, err
}
