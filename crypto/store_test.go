package crypto_test

import (
	"context"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
)

// hookStore is a destination/memstore Store whose Update can run a hook first, to stage a
// concurrent writer at the exact moment between a sweep's read and its write.
type hookStore struct {
	*memstore.Store
	// beforeUpdate, when set, runs at the start of every Update.
	beforeUpdate func(in *destination.Integration)
	// failUpdate and failScan, when set, make Update and Scan return their error.
	failUpdate func(in *destination.Integration) error
	failScan   func(after string) error
}

func newStore() *hookStore { return &hookStore{Store: memstore.New()} }

// Update runs the hook, then the memstore's Update.
func (s *hookStore) Update(ctx context.Context, in *destination.Integration) (*destination.Integration, error) {
	if s.beforeUpdate != nil {
		s.beforeUpdate(in)
	}
	if s.failUpdate != nil {
		if err := s.failUpdate(in); err != nil {
			return nil, err
		}
	}
	return s.Store.Update(ctx, in)
}

// Scan fails when failScan says so, else it is the memstore's Scan.
func (s *hookStore) Scan(ctx context.Context, after string, limit int) ([]*destination.Integration, error) {
	if s.failScan != nil {
		if err := s.failScan(after); err != nil {
			return nil, err
		}
	}
	return s.Store.Scan(ctx, after, limit)
}
