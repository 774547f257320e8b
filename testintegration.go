package outputs

import (
	"context"
	"errors"
	"fmt"

	"github.com/ilovevideoeditor/outputs/destination"
)

func isNotFound(err error) bool { return errors.Is(err, destination.ErrNotFound) }

// TestIntegration writes and deletes a small probe object with the integration's stored
// credentials, records the outcome on the integration (LastTest) and returns it. A failed probe
// is a result with OK false and a classified, sanitized message, not an error; errors are for
// a missing integration or a Service without Uploader. The result is not part of the versioned
// configuration: recording it changes neither version nor updatedAt, and it is recorded only if
// the integration is still at the version that was tested (Store.SetLastTest), so a test that
// ends after an update never writes its stale result over the newer configuration.
func (s *Service) TestIntegration(ctx context.Context, caller destination.Caller, id string) (*destination.TestResult, error) {
	in, err := s.get(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	if s.uploader == nil {
		return nil, fmt.Errorf("outputs: test integration: no Uploader configured: %w", destination.ErrUnsupported)
	}
	res := s.uploader.Test(ctx, in)
	if res.TestedAt.IsZero() {
		res.TestedAt = s.now().UTC()
	}
	s.log.InfoContext(ctx, "integration tested", "workspace", in.WorkspaceID, "integration", in.ID,
		"provider", in.Provider, "ok", res.OK, "code", res.Code)
	switch err := s.store.SetLastTest(ctx, in.WorkspaceID, in.ID, in.Version, &res); {
	case err == nil, isNotFound(err):
	case errors.Is(err, destination.ErrConflict):
		s.log.DebugContext(ctx, "test result not recorded: the integration changed while it ran", "integration", in.ID)
	default:
		s.log.WarnContext(ctx, "could not record the test result", "integration", in.ID, "error", err)
	}
	return &res, nil
}
