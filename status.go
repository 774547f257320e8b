package outputs

import (
	"context"
	"fmt"

	"github.com/ilovevideoeditor/outputs/destination"
)

// GetDelivery returns the status of the caller's render renderID as the API documents it (GET of
// a render: id, status, url, outputs[]), read from Options.Deliveries. A render of another
// workspace, or one never queued, gives destination.ErrNotFound; without Options.Deliveries it
// gives destination.ErrUnsupported.
func (s *Service) GetDelivery(ctx context.Context, caller destination.Caller, renderID string) (*destination.RenderStatus, error) {
	if err := requireWorkspace(caller); err != nil {
		return nil, err
	}
	if renderID == "" {
		return nil, invalid("renderId", destination.CodeRequired, "is required")
	}
	if s.opts.Deliveries == nil {
		return nil, fmt.Errorf("outputs: get delivery: no delivery store configured: %w", destination.ErrUnsupported)
	}
	rec, err := s.opts.Deliveries.GetDelivery(ctx, caller.WorkspaceID, renderID)
	if err != nil {
		return nil, storeErr("get delivery", err)
	}
	return rec.RenderStatus(), nil
}
