package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/uuid"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/delivery"
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

// cdnKeyPrefix is where the CDN copies go: renders/<render ID>/render.mp4.
const cdnKeyPrefix = "renders/"

// deliverer is the one place that knows how delivery runs: today the library's in-process
// engine (Service.Deliver and Engine.DeliverTarget, in the calling goroutine); with River
// (issue 10) a queue adapter that enqueues the same plan.
type deliverer interface {
	// deliver copies the render to the CDN and to every target of p.
	deliver(ctx context.Context, p outputs.Plan, src outputs.Source) (*outputs.Delivery, error)
	// deliverTarget delivers target i of p alone (a redelivery).
	deliverTarget(ctx context.Context, p outputs.Plan, i int, src outputs.Source) destination.Output
}

// inProcess delivers with the Service's engine.
type inProcess struct{ svc *outputs.Service }

func (d inProcess) deliver(ctx context.Context, p outputs.Plan, src outputs.Source) (*outputs.Delivery, error) {
	return d.svc.Deliver(ctx, p, src)
}

func (d inProcess) deliverTarget(ctx context.Context, p outputs.Plan, i int, src outputs.Source) destination.Output {
	return d.svc.Engine().DeliverTarget(ctx, p, i, src)
}

// render is one render job of a workspace.
type render struct {
	workspaceID string
	plan        outputs.Plan // storable: what a queue would carry
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
		out[i] = destination.Output{IntegrationID: t.IntegrationID, Provider: t.Provider, Status: destination.StatusPending}
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
	rd := &render{workspaceID: c.WorkspaceID,
		plan:   outputs.Plan{WorkspaceID: c.WorkspaceID, RenderID: id, FileName: renderFileName, Targets: targets},
		status: outputs.Delivery{ID: id, Status: renderPending, Outputs: pendingOutputs(targets)}}
	s.renders.mu.Lock()
	s.renders.m[id] = rd
	s.renders.mu.Unlock()
	s.log.InfoContext(r.Context(), "render accepted", "workspace", c.WorkspaceID, "render", id, "destinations", len(targets))
	s.runDelivery(r.Context(), rd.plan, nil)
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
	if len(idx) > 0 {
		rd.status.Status = renderPending
		for _, i := range idx {
			t := rd.plan.Targets[i]
			rd.status.Outputs[i] = destination.Output{IntegrationID: t.IntegrationID, Provider: t.Provider, Status: destination.StatusPending}
		}
	}
	plan := rd.plan
	s.renders.mu.Unlock()
	status := http.StatusOK
	if len(idx) > 0 {
		status = http.StatusAccepted
		s.log.InfoContext(r.Context(), "redelivery", "workspace", c.WorkspaceID, "render", id, "outputs", len(idx))
		s.runDelivery(r.Context(), plan, idx)
	}
	st, _ := s.renders.view(c.WorkspaceID, id)
	s.reply(w, r, status, st, nil)
}

// runDelivery renders (copies the sample) and delivers p in the background. idx, when set, are
// the targets to deliver again (a redelivery): each alone, from the CDN copy streamed back, with
// its integration leased again by the engine (current credentials; a deleted or deactivated one
// fails alone with integration_unavailable).
func (s *server) runDelivery(reqCtx context.Context, p outputs.Plan, idx []int) {
	ctx := context.WithoutCancel(reqCtx) // keeps the request ID for the logs
	s.wg.Go(func() {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(s.bg, cancel)
		defer stop()
		src := outputs.Source{ReaderAt: bytes.NewReader(s.sample), Size: int64(len(s.sample))}
		if idx == nil {
			d, err := s.deliver.deliver(ctx, p, src)
			if err != nil {
				s.log.WarnContext(ctx, "delivery", "render", p.RenderID, "error", err)
			}
			s.renders.mu.Lock()
			defer s.renders.mu.Unlock()
			rd := s.renders.m[p.RenderID]
			if d == nil { // an invalid plan: nothing was delivered
				rd.status.Status = renderFailed
				for i := range rd.status.Outputs {
					o := &rd.status.Outputs[i]
					o.Status, o.ErrorCode, o.Error = destination.StatusFailed, "unknown", "the delivery could not start"
				}
				return
			}
			rd.status.Status, rd.status.URL, rd.status.Outputs = d.Status, d.URL, d.Outputs
			return
		}
		if cdnSrc, err := delivery.CDNSource(ctx, s.cdnKeys, cdnKeyPrefix+p.RenderID+"/"+renderFileName); err == nil {
			src = cdnSrc
		}
		outs := make([]destination.Output, len(idx))
		var wg sync.WaitGroup
		for k, i := range idx {
			wg.Go(func() { outs[k] = s.deliver.deliverTarget(ctx, p, i, src) })
		}
		wg.Wait()
		s.renders.mu.Lock()
		defer s.renders.mu.Unlock()
		rd := s.renders.m[p.RenderID]
		for k, i := range idx {
			rd.status.Outputs[i] = outs[k]
		}
		rd.status.Status = renderCompleted
		if rd.status.URL == "" {
			rd.status.Status = renderFailed
		}
	})
}
