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

// deliverer is the one place that knows how delivery runs: the library's in-process engine
// (inProcess: Service.Deliver in a goroutine of this server, status kept in the render store),
// or River (queued, in queue.go: jobs inserted in a transaction, status read from the durable
// delivery record).
type deliverer interface {
	// start delivers p: every target (idx nil), or the targets idx again (a redelivery of
	// failed outputs, from the CDN copy, with the integrations' current credentials).
	start(ctx context.Context, p outputs.Plan, idx []int) error
	// status returns the live status of the caller's render id, or ok false when the deliverer
	// keeps none (yet): the render store's view answers then.
	status(ctx context.Context, c destination.Caller, id string) (st *outputs.Delivery, ok bool, err error)
}

// inProcess delivers with the Service's engine, in this process.
type inProcess struct{ s *server }

func (d inProcess) start(ctx context.Context, p outputs.Plan, idx []int) error {
	d.s.runDelivery(ctx, p, idx)
	return nil
}

func (inProcess) status(context.Context, destination.Caller, string) (*outputs.Delivery, bool, error) {
	return nil, false, nil
}

// render is one render job of a workspace.
type render struct {
	workspaceID string
	plan        outputs.Plan // storable: what the queue carries
	status      outputs.Delivery
	// redelivering is set while a redelivery is being started (two at once: 409).
	redelivering bool
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
	if err := s.deliver.start(r.Context(), rd.plan, nil); err != nil {
		s.renders.mu.Lock()
		delete(s.renders.m, id)
		s.renders.mu.Unlock()
		s.fail(w, r, err)
		return
	}
	st, _ := s.renderStatus(r.Context(), c, id)
	w.Header().Set("Location", "/v1/renders/"+url.PathEscape(id))
	writeJSON(w, http.StatusCreated, st)
}

func (s *server) getRender(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	st, err := s.renderStatus(r.Context(), c, r.PathValue("id"))
	s.reply(w, r, http.StatusOK, st, err)
}

// renderStatus is the status of the caller's render id: the deliverer's live one (the durable
// record, with a queue), else the render store's.
func (s *server) renderStatus(ctx context.Context, c destination.Caller, id string) (*outputs.Delivery, error) {
	if st, ok, err := s.deliver.status(ctx, c, id); ok || err != nil {
		return st, err
	}
	return s.renders.view(c.WorkspaceID, id)
}

// redeliver runs the failed outputs of a finished render again, with the integrations' current
// configuration and credentials (fixed since, perhaps). Completed outputs are left alone. The
// answer is the status with those outputs pending again (202), or the unchanged status (200)
// when none failed.
func (s *server) redeliver(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	id := r.PathValue("id")
	cur, err := s.renderStatus(r.Context(), c, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renders.mu.Lock()
	rd, ok := s.renders.m[id]
	if !ok || rd.workspaceID != c.WorkspaceID {
		s.renders.mu.Unlock()
		s.fail(w, r, errRenderNotFound) // a render row this process no longer has (see README)
		return
	}
	if cur.Status == renderPending || rd.redelivering {
		s.renders.mu.Unlock()
		s.fail(w, r, errRenderBusy)
		return
	}
	var idx []int
	for i, o := range cur.Outputs {
		if o.Status == destination.StatusFailed {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		s.renders.mu.Unlock()
		s.reply(w, r, http.StatusOK, cur, nil)
		return
	}
	rd.redelivering = true // one redelivery at a time
	rd.status.Status = renderPending
	for _, i := range idx {
		t := rd.plan.Targets[i]
		rd.status.Outputs[i] = destination.Output{IntegrationID: t.IntegrationID, Provider: t.Provider, Status: destination.StatusPending}
	}
	plan := rd.plan
	s.renders.mu.Unlock()
	s.log.InfoContext(r.Context(), "redelivery", "workspace", c.WorkspaceID, "render", id, "outputs", len(idx))
	err = s.deliver.start(r.Context(), plan, idx)
	s.renders.mu.Lock()
	rd.redelivering = false
	s.renders.mu.Unlock()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.renderStatus(r.Context(), c, id)
	s.reply(w, r, http.StatusAccepted, st, err)
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
			d, err := s.svc.Deliver(ctx, p, src)
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
			wg.Go(func() { outs[k] = s.svc.Engine().DeliverTarget(ctx, p, i, src) })
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
