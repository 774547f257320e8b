// Package memstore is an in-memory destination.Store: for tests, examples, and hosts that keep
// integrations elsewhere and only need the library's rules for the lifetime of a process.
//
// It satisfies the whole destination.Store contract (checked by destination/storetest): every
// value going in or out is a deep copy, the one-default-per-workspace rule is applied under a
// single lock, and all methods are safe for concurrent use. Timestamps are kept exactly as given
// (nanosecond precision, location included); nothing survives the process.
package memstore

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/internal/storekit"
)

// Store is an in-memory destination.Store. The zero value is not usable; call New.
type Store struct {
	mu   sync.RWMutex
	byID map[string]*destination.Integration            // every integration, by ID
	byWS map[string]map[string]*destination.Integration // the same values, by workspace then ID
}

var _ destination.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		byID: map[string]*destination.Integration{},
		byWS: map[string]map[string]*destination.Integration{},
	}
}

// Create stores a copy of in with Version 1. An integration with the same ID (in any workspace)
// gives destination.ErrConflict; a nil in, or one without ID or WorkspaceID, gives a
// *destination.ValidationError. When in.IsDefault is set, every other integration of the
// workspace stops being the default in the same step.
func (s *Store) Create(ctx context.Context, in *destination.Integration) (*destination.Integration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := storekit.Check("create", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[in.ID]; ok {
		return nil, destination.ErrConflict
	}
	c := in.Clone()
	c.Version = 1
	s.put(c)
	return c.Clone(), nil
}

// Get returns a copy of the integration id of workspaceID, or destination.ErrNotFound.
func (s *Store) Get(ctx context.Context, workspaceID, id string) (*destination.Integration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	cur := s.byWS[workspaceID][id]
	if cur == nil {
		return nil, destination.ErrNotFound
	}
	return cur.Clone(), nil
}

// List returns copies of the workspace's integrations ordered by CreatedAt, then ID. A workspace
// without integrations gives an empty list and no error.
func (s *Store) List(ctx context.Context, workspaceID string) ([]*destination.Integration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	out := make([]*destination.Integration, 0, len(s.byWS[workspaceID]))
	for _, in := range s.byWS[workspaceID] {
		out = append(out, in.Clone())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *destination.Integration) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Update replaces the stored integration in.ID of in.WorkspaceID with a copy of in, when
// in.Version is the stored version; the stored version then grows by one and CreatedAt is kept.
// A stale version gives destination.ErrConflict and changes nothing; an integration missing from
// the workspace gives destination.ErrNotFound. When in.IsDefault is set, every other
// integration of the workspace stops being the default (their versions grow, their UpdatedAt
// becomes in.UpdatedAt) in the same step.
func (s *Store) Update(ctx context.Context, in *destination.Integration) (*destination.Integration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := storekit.Check("update", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.byWS[in.WorkspaceID][in.ID]
	if cur == nil {
		return nil, destination.ErrNotFound
	}
	if cur.Version != in.Version {
		return nil, destination.ErrConflict
	}
	c := in.Clone()
	c.Version = cur.Version + 1
	c.CreatedAt = cur.CreatedAt
	c.LastTest = cur.Clone().LastTest // not part of the versioned configuration
	s.put(c)
	return c.Clone(), nil
}

// SetLastTest records result (nil clears it) as the last test of integration id, if its version
// is still version (else destination.ErrConflict; destination.ErrNotFound when missing). Version
// and UpdatedAt stay as they are.
func (s *Store) SetLastTest(ctx context.Context, workspaceID, id string, version int64, result *destination.TestResult) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.byWS[workspaceID][id]
	switch {
	case cur == nil:
		return destination.ErrNotFound
	case cur.Version != version:
		return destination.ErrConflict
	}
	c := cur.Clone() // replace rather than mutate: copies handed out earlier stay untouched
	c.LastTest = nil
	if result != nil {
		c.LastTest = (&destination.Integration{LastTest: result}).Clone().LastTest
	}
	s.byWS[workspaceID][id] = c
	s.byID[id] = c
	return nil
}

// put stores c (owned by the store from now on) and, when it is the default, clears the
// workspace's other default. Callers hold s.mu for writing.
func (s *Store) put(c *destination.Integration) {
	ws := s.byWS[c.WorkspaceID]
	if ws == nil {
		ws = map[string]*destination.Integration{}
		s.byWS[c.WorkspaceID] = ws
	}
	if c.IsDefault {
		for id, other := range ws {
			if id != c.ID && other.IsDefault {
				// Replace rather than mutate: copies handed out earlier stay untouched.
				o := other.Clone()
				o.IsDefault = false
				o.Version++
				if !c.UpdatedAt.IsZero() {
					o.UpdatedAt = c.UpdatedAt
				}
				ws[id] = o
				s.byID[id] = o
			}
		}
	}
	ws[c.ID] = c
	s.byID[c.ID] = c
}

// Delete removes the integration id of workspaceID, or gives destination.ErrNotFound. Deleting
// the default leaves the workspace without one.
func (s *Store) Delete(ctx context.Context, workspaceID, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.byWS[workspaceID]
	if ws[id] == nil {
		return destination.ErrNotFound
	}
	delete(ws, id)
	delete(s.byID, id)
	if len(ws) == 0 {
		delete(s.byWS, workspaceID)
	}
	return nil
}

// GetDefault returns a copy of the workspace's default integration, or destination.ErrNotFound.
func (s *Store) GetDefault(ctx context.Context, workspaceID string) (*destination.Integration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, in := range s.byWS[workspaceID] {
		if in.IsDefault {
			return in.Clone(), nil
		}
	}
	return nil, destination.ErrNotFound
}

// Scan returns copies of at most limit integrations of every workspace whose ID sorts after
// after, in ID order. A limit below 1 gives an empty page.
func (s *Store) Scan(ctx context.Context, after string, limit int) ([]*destination.Integration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit < 1 {
		return []*destination.Integration{}, nil
	}
	s.mu.RLock()
	ids := make([]string, 0, len(s.byID))
	for id := range s.byID {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = ids[:min(limit, len(ids))]
	out := make([]*destination.Integration, len(ids))
	for i, id := range ids {
		out[i] = s.byID[id].Clone()
	}
	s.mu.RUnlock()
	return out, nil
}
