package resolve_test

// TEMPORARY until destination/memstore lands on main: a minimal map store with memstore's
// Get/GetDefault/Create semantics. Replaced by memstore.New().

import (
	"context"
	"sync"

	"github.com/ilovevideoeditor/outputs/destination"
)

type mapStore struct {
	mu sync.Mutex
	m  map[string]*destination.Integration
}

func newStore() *mapStore { return &mapStore{m: map[string]*destination.Integration{}} }

func (s *mapStore) Create(_ context.Context, in *destination.Integration) (*destination.Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := in.Clone()
	c.Version = 1
	if c.IsDefault {
		for _, o := range s.m {
			if o.WorkspaceID == c.WorkspaceID {
				o.IsDefault = false
			}
		}
	}
	s.m[c.ID] = c
	return c.Clone(), nil
}
func (s *mapStore) Get(ctx context.Context, ws, id string) (*destination.Integration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in, ok := s.m[id]; ok && in.WorkspaceID == ws {
		return in.Clone(), nil
	}
	return nil, destination.ErrNotFound
}
func (s *mapStore) GetDefault(ctx context.Context, ws string) (*destination.Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.m {
		if in.WorkspaceID == ws && in.IsDefault {
			return in.Clone(), nil
		}
	}
	return nil, destination.ErrNotFound
}
func (s *mapStore) List(context.Context, string) ([]*destination.Integration, error) { return nil, nil }
func (s *mapStore) Update(context.Context, *destination.Integration) (*destination.Integration, error) {
	return nil, nil
}
func (s *mapStore) Delete(context.Context, string, string) error { return nil }
func (s *mapStore) Scan(context.Context, string, int) ([]*destination.Integration, error) {
	return nil, nil
}
