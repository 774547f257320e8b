package outputs

import (
	"context"
	"fmt"
	"io"

	"github.com/ilovevideoeditor/outputs/delivery"
)

// The delivery vocabulary, from package delivery (the engine the Service composes).
type (
	// DeliveryOptions configure the delivery engine (see delivery.Options).
	DeliveryOptions = delivery.Options
	// Plan is a render's storable delivery plan (see delivery.Plan).
	Plan = delivery.Plan
	// Source is a finished render's bytes (see delivery.Source).
	Source = delivery.Source
	// Delivery is a render's status after delivery (see delivery.Delivery).
	Delivery = delivery.Delivery
	// Event reports progress or a status change of one output (see delivery.Event).
	Event = delivery.Event
	// RetryPolicy governs the attempts of every output (see delivery.RetryPolicy).
	RetryPolicy = delivery.RetryPolicy
)

// ErrCDN marks a failed CDN copy (delivery.ErrCDN).
var ErrCDN = delivery.ErrCDN

// FileSource opens a file as a Source; close the returned closer when the delivery is done.
func FileSource(name string) (Source, io.Closer, error) { return delivery.FileSource(name) }

// compose builds the delivery engine over the Service's parts.
func (s *Service) compose(o DeliveryOptions) error {
	if o.Store == nil {
		o.Store = s.store
	}
	if o.Uploader == nil {
		o.Uploader = s.uploader
	}
	if o.Logger == nil {
		o.Logger = s.log
	}
	if o.Clock == nil {
		o.Clock = s.now
	}
	e, err := delivery.New(o)
	if err != nil {
		return fmt.Errorf("%w: Delivery: %w", ErrBadOptions, err)
	}
	s.engine = e
	return nil
}

// Deliver copies a finished render to the CDN and to every target of its plan at once (see
// delivery.Engine.Deliver): build the plan from the caller's workspace, the render and the
// targets ResolveDestinations returned when the render was submitted. Each target's integration
// is read again now, so a deleted or deactivated one fails its output alone and a re-keyed one
// is used with its new credentials.
func (s *Service) Deliver(ctx context.Context, p Plan, src Source) (*Delivery, error) {
	return s.engine.Deliver(ctx, p, src)
}

// Engine returns the delivery engine the Service composed, for queue workers that deliver the
// CDN copy and each target as jobs of their own (delivery.Engine.DeliverCDN and
// delivery.Engine.DeliverTarget).
func (s *Service) Engine() *delivery.Engine { return s.engine }
