package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/uuid"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
)

// Render statuses (the top-level "status" of a render).
const (
	renderPending   = "pending"   // accepted: rendering, then delivering
	renderCompleted = "completed" // the CDN copy is done; each output has its own status
	renderFailed    = "failed"    // the CDN copy failed
)

// renderFileName is the name of every render's file here (the documentation's example).
const renderFileName = "render.mp4"

// deliverFunc delivers a finished render to the CDN and to targets and returns its status. It is
// the one place that knows how delivery runs: today the library's in-process Service.Deliver;
// with the delivery engine (issue 9) a stored delivery.Plan handed to Engine.Deliver, and with
// River (issue 10) an enqueued job.
type deliverFunc func(ctx context.Context, renderID string, src outputs.Source, targets []destination.Target) (*outputs.Delivery, error)

// inProcess delivers through svc.Deliver, in the calling goroutine.
func inProcess(svc *outputs.Service) deliverFunc {
	return func(ctx context.Context, renderID string, src outputs.Source, targets []destination.Target) (*outputs.Delivery, error) {
		return svc.Deliver(ctx, outputs.Render{ID: renderID, FileName: renderFileName, Source: src}, targets)
	}
}

// render is one render job of a workspace.
type render struct {
	workspaceID string
	targets     []destination.Target // as resolved at submit time; redelivery reloads the integrations
	status      outputs.Delivery
}

// renderStore keeps renders in memory (a real host keeps them with its render jobs).
type renderStore struct {
	mu sync.Mutex
	m  map[string]*render
}

func newRenderStore() *renderStore { return &renderStore{m: map[string]*render{}} }

// view returns a copy of the status of a render of workspace ws.
func (rs *renderStore) view(ws, id string) (*outputs.Delivery, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rd, ok := rs.m[id]
	if !ok || rd.workspaceID != ws {
		return nil, errRenderNotFound
	}
	st := rd.status
	st.Outputs = append([]destination.Output{}, rd.status.Outputs...)
	return &st, nil
}

func pendingOutputs(targets []destination.Target) []destination.Output {
	out := make([]destination.Output, len(targets))
	for i, t := range targets {
		out[i] = destination.Output{IntegrationID: t.Integration.ID, Provider: t.Integration.Provider, Status: destination.StatusPending}
	}
	return out
}

// createRender accepts a videoJSON: its destinations are resolved first (every problem at once,
// indexed), then the render runs in the background: "rendering" is copying the sample video,
// then the delivery. The answer is the pending status; GET /v1/renders/{id} follows it.
func (s *server) createRender(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	targets, err := s.resolveBody(w, r, c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := uuid.Must(uuid.NewV7()).String()
	rd := &render{workspaceID: c.WorkspaceID, targets: targets,
		status: outputs.Delivery{ID: id, Status: renderPending, Outputs: pendingOutputs(targets)}}
	s.renders.mu.Lock()
	s.renders.m[id] = rd
	s.renders.mu.Unlock()
	s.log.InfoContext(r.Context(), "render accepted", "workspace", c.WorkspaceID, "render", id, "destinations", len(targets))
	s.runDelivery(r.Context(), id, targets, nil)
	st, _ := s.renders.view(c.WorkspaceID, id)
	w.Header().Set("Location", "/v1/renders/"+url.PathEscape(id))
	writeJSON(w, http.StatusCreated, st)
}

func (s *server) getRender(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	st, err := s.renders.view(c.WorkspaceID, r.PathValue("id"))
	s.reply(w, r, http.StatusOK, st, err)
}

// redeliver runs the failed outputs of a finished render again, with the integrations' current
// configuration and credentials (fixed since, perhaps). Completed outputs are left alone. The
// answer is the status with those outputs pending again (202), or the unchanged status (200)
// when none failed.
func (s *server) redeliver(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	id := r.PathValue("id")
	s.renders.mu.Lock()
	rd, ok := s.renders.m[id]
	if !ok || rd.workspaceID != c.WorkspaceID {
		s.renders.mu.Unlock()
		s.fail(w, r, errRenderNotFound)
		return
	}
	if rd.status.Status == renderPending {
		s.renders.mu.Unlock()
		s.fail(w, r, errRenderBusy)
		return
	}
	var idx []int
	for i, o := range rd.status.Outputs {
		if o.Status == destination.StatusFailed {
			idx = append(idx, i)
		}
	}
	var targets []destination.Target
	if len(idx) > 0 {
		rd.status.Status = renderPending
		for _, i := range idx {
			t := rd.targets[i]
			rd.status.Outputs[i] = destination.Output{IntegrationID: t.Integration.ID, Provider: t.Integration.Provider, Status: destination.StatusPending}
			targets = append(targets, t)
		}
	}
	s.renders.mu.Unlock()
	status := http.StatusOK
	if len(idx) > 0 {
		status = http.StatusAccepted
		s.log.InfoContext(r.Context(), "redelivery", "workspace", c.WorkspaceID, "render", id, "outputs", len(idx))
		s.runDelivery(r.Context(), id, targets, idx)
	}
	st, _ := s.renders.view(c.WorkspaceID, id)
	s.reply(w, r, status, st, nil)
}

// runDelivery renders (copies the sample) and delivers in the background. idx, when set, are
// the positions in the render's outputs of targets (a redelivery); their integrations are
// reloaded so that current credentials are used, and a deleted or deactivated one fails alone.
func (s *server) runDelivery(reqCtx context.Context, id string, targets []destination.Target, idx []int) {
	ctx := context.WithoutCancel(reqCtx) // keeps the request ID for the logs
	s.wg.Go(func() {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(s.bg, cancel)
		defer stop()
		ws := s.workspaceOf(id)
		live := make([]destination.Target, 0, len(targets))
		pos := make([]int, 0, len(targets)) // live[k] is output pos[k]
		var unavailable []int
		for k, t := range targets {
			i := k
			if idx != nil {
				i = idx[k]
				in, err := s.store.Get(ctx, ws, t.Integration.ID)
				if err != nil || !in.IsActive {
					unavailable = append(unavailable, i)
					continue
				}
				t.Integration = in
			}
			live = append(live, t)
			pos = append(pos, i)
		}
		src := outputs.Source{ReaderAt: bytes.NewReader(s.sample), Size: int64(len(s.sample))}
		d, err := s.deliver(ctx, id, src, live)
		if err != nil && d == nil {
			s.log.ErrorContext(ctx, "delivery failed", "render", id, "error", err)
		}
		s.renders.mu.Lock()
		defer s.renders.mu.Unlock()
		rd := s.renders.m[id]
		for _, i := range unavailable {
			o := &rd.status.Outputs[i]
			o.Status, o.ErrorCode, o.Error = destination.StatusFailed, "integration_unavailable", "the integration was deleted or deactivated"
		}
		switch {
		case d == nil:
			rd.status.Status = renderFailed
			for _, i := range pos {
				o := &rd.status.Outputs[i]
				o.Status, o.ErrorCode, o.Error = destination.StatusFailed, "unknown", "the delivery could not start"
			}
			return
		case d.Status == renderFailed && idx == nil:
			rd.status.Status = renderFailed
		default:
			rd.status.Status = renderCompleted
		}
		if idx == nil || rd.status.URL == "" {
			rd.status.URL = d.URL
		}
		for k, o := range d.Outputs {
			rd.status.Outputs[pos[k]] = o
		}
	})
}

func (s *server) workspaceOf(id string) string {
	s.renders.mu.Lock()
	defer s.renders.mu.Unlock()
	return s.renders.m[id].workspaceID
}
