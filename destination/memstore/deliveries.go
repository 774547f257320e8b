package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/internal/storekit"
)

// Deliveries is an in-memory destination.DeliveryStore (checked by destination/storetest). The
// zero value is not usable; call NewDeliveries.
type Deliveries struct {
	mu   sync.Mutex
	byWS map[string]map[string]*destination.DeliveryRecord // by workspace, then render ID
}

var _ destination.DeliveryStore = (*Deliveries)(nil)

// NewDeliveries returns an empty delivery store.
func NewDeliveries() *Deliveries {
	return &Deliveries{byWS: map[string]map[string]*destination.DeliveryRecord{}}
}

// AddDelivery stores a copy of rec, or adds to the stored record the outputs it does not have
// yet. rec is checked first (a *destination.ValidationError names the bad field).
func (d *Deliveries) AddDelivery(ctx context.Context, rec *destination.DeliveryRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storekit.CheckDelivery(rec); err != nil {
		return err
	}
	c := storekit.Normalize(rec)
	d.mu.Lock()
	defer d.mu.Unlock()
	ws := d.byWS[c.WorkspaceID]
	if ws == nil {
		ws = map[string]*destination.DeliveryRecord{}
		d.byWS[c.WorkspaceID] = ws
	}
	cur := ws[c.RenderID]
	if cur == nil {
		ws[c.RenderID] = c
		return nil
	}
	next := cur.Clone() // copies handed out earlier stay untouched
	for _, o := range c.Outputs {
		if next.Output(o.IntegrationID) == nil {
			next.Outputs = append(next.Outputs, o)
		}
	}
	ws[c.RenderID] = next
	return nil
}

// GetDelivery returns a copy of the record of renderID in workspaceID, or
// destination.ErrNotFound.
func (d *Deliveries) GetDelivery(ctx context.Context, workspaceID, renderID string) (*destination.DeliveryRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.byWS[workspaceID][renderID]
	if cur == nil {
		return nil, destination.ErrNotFound
	}
	return cur.Clone(), nil
}

// TransitionRender applies t to the CDN copy of renderID.
func (d *Deliveries) TransitionRender(ctx context.Context, workspaceID, renderID string, t destination.Transition) error {
	return d.transition(ctx, workspaceID, renderID, t, func(r *destination.DeliveryRecord) *destination.Progress {
		return &r.Progress
	})
}

// TransitionOutput applies t to the output of integrationID of renderID.
func (d *Deliveries) TransitionOutput(ctx context.Context, workspaceID, renderID, integrationID string, t destination.Transition) error {
	return d.transition(ctx, workspaceID, renderID, t, func(r *destination.DeliveryRecord) *destination.Progress {
		if o := r.Output(integrationID); o != nil {
			return &o.Progress
		}
		return nil
	})
}

func (d *Deliveries) transition(ctx context.Context, workspaceID, renderID string, t destination.Transition,
	pick func(*destination.DeliveryRecord) *destination.Progress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storekit.CheckTransition(workspaceID, renderID, t); err != nil {
		return err
	}
	t.At = storekit.UTCMicro(t.At)
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.byWS[workspaceID][renderID]
	if cur == nil {
		return destination.ErrNotFound
	}
	next := cur.Clone()
	p := pick(next)
	if p == nil {
		return destination.ErrNotFound
	}
	if p.Apply(t) {
		d.byWS[workspaceID][renderID] = next
	}
	return nil
}

var _ destination.DeliveryPruner = (*Deliveries)(nil)

// PruneDeliveries deletes the finished records last changed before before
// (destination.DeliveryRecord.Prunable) and reports how many.
func (d *Deliveries) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for ws, recs := range d.byWS {
		for id, r := range recs {
			if r.Prunable(before) {
				delete(recs, id)
				n++
			}
		}
		if len(recs) == 0 {
			delete(d.byWS, ws)
		}
	}
	return n, nil
}

var _ destination.AbandonedLister = (*Deliveries)(nil)

// AbandonedOutputs returns the outputs and CDN copies that may have left an abandoned upload
// (destination.DeliveryRecord.AbandonedRefs), newest first, at most limit.
func (d *Deliveries) AbandonedOutputs(ctx context.Context, before time.Time, limit int) ([]destination.OutputRef, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var refs []destination.OutputRef
	for _, recs := range d.byWS {
		for _, r := range recs {
			refs = append(refs, r.AbandonedRefs(before)...)
		}
	}
	slices.SortFunc(refs, func(a, b destination.OutputRef) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	if limit > 0 && len(refs) > limit {
		refs = refs[:limit]
	}
	return refs, nil
}
