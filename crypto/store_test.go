package crypto_test

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/ilovevideoeditor/outputs/destination"
)

// mapStore is a minimal destination.Store for these tests: a map under a mutex, with the
// contract's version check, workspace scoping, copy semantics and Scan order. (destination/
// memstore is the library's real one; this keeps the crypto tests self-contained.)
type mapStore struct {
	mu   sync.Mutex
	rows map[string]*destination.Integration // by ID

	// beforeUpdate, when set, runs (without the lock) at the start of every Update.
	beforeUpdate func(in *destination.Integration)
}

var _ destination.Store = (*mapStore)(nil)

func newMapStore() *mapStore { return &mapStore{rows: map[string]*destination.Integration{}} }

func (s *mapStore) Create(_ context.Context, in *destination.Integration) (*destination.Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rows[in.ID]; ok {
		return nil, destination.ErrConflict
	}
	c := in.Clone()
	c.Version = 1
	s.rows[c.ID] = c
	return c.Clone(), nil
}

func (s *mapStore) get(ws, id string) (*destination.Integration, error) {
	r, ok := s.rows[id]
	if !ok || r.WorkspaceID != ws {
		return nil, destination.ErrNotFound
	}
	return r, nil
}

func (s *mapStore) Get(_ context.Context, ws, id string) (*destination.Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ws, id)
	return r.Clone(), err
}

func (s *mapStore) List(_ context.Context, ws string) ([]*destination.Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*destination.Integration
	for _, r := range s.rows {
		if r.WorkspaceID == ws {
			out = append(out, r.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *destination.Integration) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (s *mapStore) Update(_ context.Context, in *destination.Integration) (*destination.Integration, error) {
	if s.beforeUpdate != nil {
		s.beforeUpdate(in)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(in.WorkspaceID, in.ID)
	if err != nil {
		return nil, err
	}
	if r.Version != in.Version {
		return nil, destination.ErrConflict
	}
	c := in.Clone()
	c.Version, c.CreatedAt = r.Version+1, r.CreatedAt
	s.rows[c.ID] = c
	return c.Clone(), nil
}

func (s *mapStore) Delete(_ context.Context, ws, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.get(ws, id); err != nil {
		return err
	}
	delete(s.rows, id)
	return nil
}

func (s *mapStore) GetDefault(_ context.Context, ws string) (*destination.Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rows {
		if r.WorkspaceID == ws && r.IsDefault {
			return r.Clone(), nil
		}
	}
	return nil, destination.ErrNotFound
}

func (s *mapStore) Scan(_ context.Context, after string, limit int) ([]*destination.Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.rows))
	for id := range s.rows {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]*destination.Integration, len(ids))
	for i, id := range ids {
		out[i] = s.rows[id].Clone()
	}
	return out, nil
}
