package storekit

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ilovevideoeditor/outputs/destination"
)

// CheckDelivery reports why rec cannot be stored by AddDelivery: nil, an empty workspace or
// render ID, an output without integration ID or listed twice, an unknown status, or a string
// or time no store can keep (every store rejects the same inputs). The error is a
// *destination.ValidationError that never quotes a value.
func CheckDelivery(rec *destination.DeliveryRecord) error {
	var p destination.Problems
	if rec == nil {
		p.Add("delivery", destination.CodeRequired, "add needs a delivery record, got nil")
		return p.Err()
	}
	required(&p, "workspaceId", rec.WorkspaceID)
	required(&p, "renderId", rec.RenderID)
	checkProgress(&p, "", &rec.Progress)
	checkTime(&p, "createdAt", rec.CreatedAt)
	seen := map[string]bool{}
	for _, o := range rec.Outputs {
		required(&p, "outputs.integrationId", o.IntegrationID)
		if seen[o.IntegrationID] {
			p.Add("outputs.integrationId", destination.CodeDuplicate, "each integration appears once in a delivery")
		}
		seen[o.IntegrationID] = true
		checkString(&p, "outputs.provider", string(o.Provider))
		checkTime(&p, "outputs.createdAt", o.CreatedAt)
		checkProgress(&p, "outputs.", &o.Progress)
	}
	return p.Err()
}

// CheckTransition reports why t cannot be applied, as CheckDelivery does.
func CheckTransition(workspaceID, renderID string, t destination.Transition) error {
	var p destination.Problems
	required(&p, "workspaceId", workspaceID)
	required(&p, "renderId", renderID)
	if !knownStatus(t.Status) || t.Status == "" {
		p.Add("status", destination.CodeInvalid, "must be pending, uploading, completed or failed")
	}
	for _, f := range []struct{ name, v string }{{"key", t.Key}, {"url", t.URL}, {"checksum", t.Checksum},
		{"transfer", t.Transfer}, {"errorCode", t.ErrorCode}, {"error", t.Error}} {
		checkString(&p, f.name, f.v)
	}
	checkTime(&p, "at", t.At)
	return p.Err()
}

func checkProgress(p *destination.Problems, prefix string, g *destination.Progress) {
	if !knownStatus(g.Status) {
		p.Add(prefix+"status", destination.CodeInvalid, "must be pending, uploading, completed or failed")
	}
	for _, f := range []struct{ name, v string }{{"key", g.Key}, {"url", g.URL}, {"checksum", g.Checksum},
		{"transfer", g.Transfer}, {"errorCode", g.ErrorCode}, {"error", g.Error}} {
		checkString(p, prefix+f.name, f.v)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"startedAt", g.StartedAt}, {"finishedAt", g.FinishedAt}, {"updatedAt", g.UpdatedAt}} {
		if !f.t.IsZero() {
			checkTime(p, prefix+f.name, f.t)
		}
	}
}

func knownStatus(s destination.OutputStatus) bool {
	switch s {
	case "", destination.StatusPending, destination.StatusUploading, destination.StatusCompleted, destination.StatusFailed:
		return true
	}
	return false
}

func required(p *destination.Problems, field, v string) {
	if v == "" {
		p.Add(field, destination.CodeRequired, "is required")
		return
	}
	checkString(p, field, v)
}

func checkString(p *destination.Problems, field, v string) {
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		p.Add(field, destination.CodeInvalid, "must be valid UTF-8 without NUL characters")
	}
}

func checkTime(p *destination.Problems, field string, t time.Time) {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		p.Add(field, destination.CodeInvalid, "must be a time in years 1 to 9999")
	}
}

// Normalize returns a copy of rec as stores keep it: timestamps UTC and truncated to the
// microsecond, empty statuses pending.
func Normalize(rec *destination.DeliveryRecord) *destination.DeliveryRecord {
	c := rec.Clone()
	c.CreatedAt = UTCMicro(c.CreatedAt)
	normalizeProgress(&c.Progress)
	for i := range c.Outputs {
		c.Outputs[i].CreatedAt = UTCMicro(c.Outputs[i].CreatedAt)
		normalizeProgress(&c.Outputs[i].Progress)
	}
	return c
}

func normalizeProgress(g *destination.Progress) {
	if g.Status == "" {
		g.Status = destination.StatusPending
	}
	g.StartedAt, g.FinishedAt, g.UpdatedAt = UTCMicro(g.StartedAt), UTCMicro(g.FinishedAt), UTCMicro(g.UpdatedAt)
}

// UTCMicro returns t in UTC truncated to the microsecond; the zero time stays zero.
func UTCMicro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}
