package riverqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/webhook"
)

// DefaultWebhookQueue is the queue of webhook jobs, apart so a slow receiver never takes a
// delivery's slot.
const DefaultWebhookQueue = "outputs_webhooks"

// WebhookSender sends one signed event (*sender.Sender of package webhook/sender implements it).
type WebhookSender interface {
	Send(ctx context.Context, m webhook.Message) error
}

// WebhookArgs are the arguments of a webhook job, unique on the message ID: an event observed
// twice (two jobs finishing a render at once) is sent once.
type WebhookArgs struct {
	MessageID string          `json:"messageId" river:"unique"`
	Message   webhook.Message `json:"message"`
}

// Kind is the River job kind, "outputs.webhook".
func (WebhookArgs) Kind() string { return "outputs.webhook" }

type webhookWorker[TTx any] struct {
	river.WorkerDefaults[WebhookArgs]
	q *Queue[TTx]
}

// NextRetry backs off exponentially from Config.WebhookBackoff, capped at an hour, with jitter.
func (w *webhookWorker[TTx]) NextRetry(job *river.Job[WebhookArgs]) time.Time {
	d := w.q.cfg.WebhookBackoff << min(job.Attempt-1, 20)
	d = min(d, time.Hour)
	return time.Now().Add(d/2 + time.Duration(float64(d/2)*randFloat()))
}

// Timeout bounds one send (the sender has its own, shorter timeout too).
func (w *webhookWorker[TTx]) Timeout(*river.Job[WebhookArgs]) time.Duration { return time.Minute }

func (w *webhookWorker[TTx]) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	err := w.q.cfg.Webhooks.Send(ctx, job.Args.Message)
	var se *webhook.SendError
	if errors.As(err, &se) && se.Permanent {
		return river.JobCancel(err) // the receiver's answer will not change by itself
	}
	return err // nil, or retried with backoff
}

// eventData is the data of an output event: the render status entry and its render.
type eventData struct {
	RenderID string `json:"renderId"`
	destination.Output
}

// announce queues the webhook events of a finished transition: the output's event (when
// integrationID is set) and delivery.completed once every output is terminal. IDs derive from
// the record (attempt counts included), so a redelivery announces again and a repeat does not.
func (q *Queue[TTx]) announce(ctx context.Context, p Plan, integrationID string) {
	if q.cfg.Webhooks == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	rec, err := q.cfg.Deliveries.GetDelivery(ctx, p.WorkspaceID, p.RenderID)
	if err != nil {
		q.log.Warn("riverqueue: webhook events not queued", "render", p.RenderID, "error", err)
		return
	}
	st := rec.RenderStatus()
	attempts := rec.Attempts
	for i, o := range rec.Outputs {
		attempts += o.Attempts
		if o.IntegrationID != integrationID || !o.Status.Terminal() {
			continue
		}
		typ := webhook.OutputCompleted
		if o.Status == destination.StatusFailed {
			typ = webhook.OutputFailed
		}
		q.queueEvent(ctx, p.WorkspaceID, typ, eventData{RenderID: p.RenderID, Output: st.Outputs[i]},
			p.RenderID, o.IntegrationID, strconv.Itoa(o.Attempts))
	}
	if rec.Done() {
		q.queueEvent(ctx, p.WorkspaceID, webhook.DeliveryCompleted, st, p.RenderID, strconv.Itoa(attempts))
	}
}

func (q *Queue[TTx]) queueEvent(ctx context.Context, ws, typ string, data any, parts ...string) {
	b, err := json.Marshal(data)
	if err != nil {
		q.log.Warn("riverqueue: webhook event not encoded", "type", typ, "error", err)
		return
	}
	h := sha256.New()
	for _, s := range append([]string{ws, typ}, parts...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	id := "msg_" + hex.EncodeToString(h.Sum(nil)[:16])
	m := webhook.Message{ID: id, WorkspaceID: ws, Type: typ, Timestamp: q.now(), Data: b}
	if _, err := q.client.Insert(ctx, WebhookArgs{MessageID: id, Message: m}, &river.InsertOpts{Queue: q.cfg.WebhookQueue,
		MaxAttempts: q.cfg.WebhookAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}); err != nil {
		q.log.Warn("riverqueue: webhook event not queued", "type", typ, "error", err)
	}
}
