package destination

import (
	"context"
	"time"
)

// DeliveryRecord is the durable record of one render's delivery: the CDN copy and one
// OutputRecord per destination. A DeliveryStore keeps it; queue workers (delivery/riverqueue)
// write its status transitions; RenderStatus turns it into the render status the API documents.
type DeliveryRecord struct {
	WorkspaceID string `json:"workspaceId"`
	RenderID    string `json:"renderId"`
	// CreatedAt is when the record was added (the delivery was queued).
	CreatedAt time.Time `json:"createdAt"`
	// Progress is the CDN copy's: its Status is the render's top-level status, its URL the
	// render status url.
	Progress
	// Outputs are the destinations, in the order they were added.
	Outputs []OutputRecord `json:"outputs"`
}

// OutputRecord is the durable record of one destination of a render.
type OutputRecord struct {
	IntegrationID string    `json:"integrationId"`
	Provider      Provider  `json:"provider"`
	CreatedAt     time.Time `json:"createdAt"`
	Progress
}

// Progress is the state of one copy of a render (the CDN copy or one destination's), changed
// only through Apply.
//
// Timestamps are zero until the transition they name happened. Error codes and messages are the
// sanitized, client-safe ones of UploadError (never a secret, never a raw provider answer).
type Progress struct {
	// Status is pending (queued), uploading, completed or failed.
	Status OutputStatus `json:"status"`
	// Key is the object's key: the key being written from the moment an upload starts (kept when
	// it fails, so a janitor can sweep what it left), the stored object's once completed. URL is
	// the object's (signed or public) URL, once completed.
	Key string `json:"key,omitempty"`
	URL string `json:"url,omitempty"`
	// SizeBytes and Checksum describe the stored object (checksum format "crc32c:<base64>").
	SizeBytes int64  `json:"sizeBytes,omitempty"`
	Checksum  string `json:"checksum,omitempty"`
	// Transfer says how the stored object's bytes got there, once completed: TransferStream or
	// TransferCopy (Output.Transfer). Empty when not known: an uploader that does not say, or a
	// record completed before stores kept it.
	Transfer string `json:"transfer,omitempty"`
	// Attempts counts the upload attempts that started (StatusUploading transitions).
	Attempts  int    `json:"attempts,omitempty"`
	ErrorCode string `json:"errorCode,omitempty"`
	Error     string `json:"error,omitempty"`
	// StartedAt is when the latest attempt started, FinishedAt when it last reached completed or
	// failed, UpdatedAt when anything last changed.
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	UpdatedAt  time.Time `json:"updatedAt,omitzero"`
}

// Clone returns a deep copy of r (nil for nil).
func (r *DeliveryRecord) Clone() *DeliveryRecord {
	if r == nil {
		return nil
	}
	c := *r
	c.Outputs = append([]OutputRecord(nil), r.Outputs...)
	return &c
}

// Output returns the output record of integrationID, or nil.
func (r *DeliveryRecord) Output(integrationID string) *OutputRecord {
	for i := range r.Outputs {
		if r.Outputs[i].IntegrationID == integrationID {
			return &r.Outputs[i]
		}
	}
	return nil
}

// Done reports whether the CDN copy and every output reached completed or failed.
func (r *DeliveryRecord) Done() bool {
	if !r.Status.Terminal() {
		return false
	}
	for _, o := range r.Outputs {
		if !o.Status.Terminal() {
			return false
		}
	}
	return true
}

// Terminal reports whether s is completed or failed.
func (s OutputStatus) Terminal() bool { return s == StatusCompleted || s == StatusFailed }

// RenderStatus is a render's status as the API documents it (GET of a render): its ID, the CDN
// copy's status and URL (always the CDN, never a destination), and one entry per destination.
// Each output carries the documented provider, outputKey, outputUrl, outputSizeBytes and status,
// plus its integrationId, its transfer once completed (when known) and, when failed, the
// sanitized errorCode and error.
type RenderStatus struct {
	ID      string       `json:"id"`
	Status  OutputStatus `json:"status"`
	URL     string       `json:"url"`
	Outputs []Output     `json:"outputs"`
}

// RenderStatus returns r as the documented render status.
func (r *DeliveryRecord) RenderStatus() *RenderStatus {
	st := &RenderStatus{ID: r.RenderID, Status: r.Status, URL: r.URL, Outputs: make([]Output, len(r.Outputs))}
	for i, o := range r.Outputs {
		st.Outputs[i] = Output{IntegrationID: o.IntegrationID, Provider: o.Provider, OutputKey: o.Key,
			OutputURL: o.URL, OutputSizeBytes: o.SizeBytes, Status: o.Status, Checksum: o.Checksum, Transfer: o.Transfer}
		if o.Status == StatusFailed {
			st.Outputs[i].ErrorCode, st.Outputs[i].Error = o.ErrorCode, o.Error
		}
	}
	return st
}

// Transition is one status change of a CDN copy or an output, as a DeliveryStore applies it:
//
//   - StatusPending: queued again (a redelivery); the error is cleared, nothing else changes.
//   - StatusUploading: an attempt started: Attempts grows by one, StartedAt becomes At, the
//     error is cleared; Key, when set, is stored (the key the attempt writes).
//   - StatusCompleted: Key, URL, SizeBytes, Checksum and Transfer are stored, FinishedAt becomes
//     At, the error is cleared.
//   - StatusFailed: ErrorCode and Error are stored, FinishedAt becomes At; Key, when set, is
//     stored (the key the failed attempt wrote).
//
// A completed record stays completed: a later transition of it is ignored (returns no error), so
// a job that runs again after a crash cannot undo a finished delivery.
type Transition struct {
	Status OutputStatus
	At     time.Time
	// Set with StatusCompleted; Key also with StatusUploading and StatusFailed.
	Key, URL  string
	SizeBytes int64
	Checksum  string
	// Transfer is the completed upload's Output.Transfer (TransferStream or TransferCopy, or ""
	// when not known); set with StatusCompleted.
	Transfer string
	// Set with StatusFailed: sanitized, client-safe.
	ErrorCode, Error string
}

// DeliveryStore persists delivery records. Implementations (destination/memstore,
// destination/sqlstore) satisfy this contract, which destination/storetest checks:
//
//   - Every method is scoped by workspace: a render that exists only in another workspace
//     behaves exactly like a missing one (ErrNotFound).
//   - AddDelivery stores rec when the workspace has no record of rec.RenderID, with the status
//     of rec and of its outputs (pending when empty) and CreatedAt/UpdatedAt as given (the
//     caller sets them). When a record exists, it adds only the outputs whose IntegrationID is
//     not recorded yet (delivering a render to an integration added later) and leaves everything
//     else as stored: adding the same record twice is a no-op. Outputs keep the order they were
//     added in.
//   - TransitionRender and TransitionOutput apply a Transition (see its rules) to the CDN copy
//     or to the output of integrationID; a missing record or output gives ErrNotFound.
//   - Values passed in and returned are copies; safe for concurrent use.
type DeliveryStore interface {
	AddDelivery(ctx context.Context, rec *DeliveryRecord) error
	GetDelivery(ctx context.Context, workspaceID, renderID string) (*DeliveryRecord, error)
	TransitionRender(ctx context.Context, workspaceID, renderID string, t Transition) error
	TransitionOutput(ctx context.Context, workspaceID, renderID, integrationID string, t Transition) error
}

// Apply applies t by the rules of Transition and reports whether anything changed. Stores share
// it so they agree.
func (p *Progress) Apply(t Transition) bool {
	if p.Status == StatusCompleted {
		return false
	}
	switch t.Status {
	case StatusPending:
	case StatusUploading:
		p.Attempts++
		p.StartedAt = t.At
		if t.Key != "" {
			p.Key = t.Key
		}
	case StatusCompleted:
		p.Key, p.URL, p.SizeBytes, p.Checksum, p.Transfer = t.Key, t.URL, t.SizeBytes, t.Checksum, t.Transfer
		p.FinishedAt = t.At
	case StatusFailed:
		p.FinishedAt = t.At
		if t.Key != "" {
			p.Key = t.Key
		}
	default:
		return false
	}
	p.ErrorCode, p.Error = t.ErrorCode, t.Error
	if t.Status != StatusFailed {
		p.ErrorCode, p.Error = "", ""
	}
	p.Status = t.Status
	p.UpdatedAt = t.At
	return true
}

// DeliveryPruner is an optional DeliveryStore interface for a janitor (delivery/riverqueue):
// PruneDeliveries deletes the records that are Done (the CDN copy and every output completed or
// failed) and whose latest change (LastChange) is before before, in every workspace, and
// reports how many it deleted. Records still in flight are kept whatever their age.
// destination/memstore and destination/sqlstore implement it; storetest.RunDeliveries checks it.
type DeliveryPruner interface {
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)
}

// LastChange is the latest UpdatedAt (or CreatedAt) of the record and its outputs.
func (r *DeliveryRecord) LastChange() time.Time {
	last := r.CreatedAt
	if r.UpdatedAt.After(last) {
		last = r.UpdatedAt
	}
	for _, o := range r.Outputs {
		if o.UpdatedAt.After(last) {
			last = o.UpdatedAt
		}
		if o.CreatedAt.After(last) {
			last = o.CreatedAt
		}
	}
	return last
}

// Prunable reports whether a DeliveryPruner deletes r for the cutoff before.
func (r *DeliveryRecord) Prunable(before time.Time) bool {
	return r.Done() && r.LastChange().Before(before)
}

// OutputRef names one output of a delivery record, or its CDN copy, and the key its uploads
// wrote.
type OutputRef struct {
	// IntegrationID and Provider are the output's; both are empty for the render's CDN copy.
	WorkspaceID, RenderID, IntegrationID string
	Provider                             Provider
	Key                                  string
	Status                               OutputStatus
	Attempts                             int
	// UpdatedAt is the output's last change (its CreatedAt when it never changed).
	UpdatedAt time.Time
}

// Sweepable reports whether an upload of o may have been abandoned, by the rules of
// AbandonedLister, for the cutoff before.
func (o *OutputRecord) Sweepable(before time.Time) bool { return o.sweepable(o.CreatedAt, before) }

// CDNSweepable reports whether an upload of r's CDN copy may have been abandoned, by the rules
// of AbandonedLister, for the cutoff before.
func (r *DeliveryRecord) CDNSweepable(before time.Time) bool { return r.sweepable(r.CreatedAt, before) }

// lastChange is when p last changed: UpdatedAt, or created when it never changed.
func (p *Progress) lastChange(created time.Time) time.Time {
	if p.UpdatedAt.IsZero() {
		return created
	}
	return p.UpdatedAt
}

func (p *Progress) sweepable(created, before time.Time) bool {
	return p.Key != "" && p.lastChange(created).Before(before) && (p.Status != StatusCompleted || p.Attempts > 1)
}

// AbandonedRefs returns the refs of r's copies that may have left an abandoned upload for the
// cutoff before (CDNSweepable, then each OutputRecord.Sweepable, in order): what an
// AbandonedLister lists of r.
func (r *DeliveryRecord) AbandonedRefs(before time.Time) []OutputRef {
	var refs []OutputRef
	if r.CDNSweepable(before) {
		refs = append(refs, OutputRef{WorkspaceID: r.WorkspaceID, RenderID: r.RenderID, Key: r.Key, Status: r.Status,
			Attempts: r.Attempts, UpdatedAt: r.lastChange(r.CreatedAt)})
	}
	for _, o := range r.Outputs {
		if o.Sweepable(before) {
			refs = append(refs, OutputRef{WorkspaceID: r.WorkspaceID, RenderID: r.RenderID, IntegrationID: o.IntegrationID,
				Provider: o.Provider, Key: o.Key, Status: o.Status, Attempts: o.Attempts, UpdatedAt: o.lastChange(o.CreatedAt)})
		}
	}
	return refs
}

// AbandonedLister is an optional DeliveryStore interface for a janitor (delivery/riverqueue):
// AbandonedOutputs returns, in every workspace, the outputs and CDN copies that may have left an
// abandoned upload behind (OutputRecord.Sweepable, DeliveryRecord.CDNSweepable): those with a
// key, last changed before before, that are failed, still pending or uploading (a worker that
// died), or completed after more than one attempt (an earlier attempt may have died
// mid-upload). A CDN copy's ref has no IntegrationID. The most recently changed come first,
// at most limit of them. destination/memstore and destination/sqlstore implement it;
// storetest.RunDeliveries checks it.
type AbandonedLister interface {
	AbandonedOutputs(ctx context.Context, before time.Time, limit int) ([]OutputRef, error)
}
