package outputs

import (
	"context"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/resolve"
)

// ResolveDestinations reads the "destinations" of a render's videoJSON and resolves them for the
// caller by the rules (see package resolve): each entry must name an active integration of the
// caller's workspace with a matching provider; omitted destinations mean the workspace default
// (if active) else the CDN only; an explicit empty array means the CDN only. Call it when the
// render is submitted, so a bad destination fails before any rendering; pass the targets to
// Deliver when the render is finished. Problems come back together in one
// *destination.ValidationError with positioned fields ("destinations[2].provider").
func (s *Service) ResolveDestinations(ctx context.Context, caller destination.Caller, videoJSON []byte) ([]destination.Target, error) {
	req, err := resolve.ParseVideoJSON(videoJSON)
	if err != nil {
		return nil, err
	}
	return s.resolver.Resolve(ctx, caller, req)
}
