package memstore

import (
	"context"
	"sync"

	"github.com/ilovevideoeditor/outputs/destination"
)

// Checkpoint is an in-memory destination.Checkpoint: an upload's session survives a retry or a
// cancelled attempt in this process, not a restart. The zero value is empty and ready; it is
// safe for concurrent use.
type Checkpoint struct {
	mu    sync.Mutex
	state []byte
	saves int
}

var _ destination.Checkpoint = (*Checkpoint)(nil)

// Load returns a copy of the state last saved, or nil.
func (c *Checkpoint) Load(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		return nil, nil
	}
	return append([]byte(nil), c.state...), nil
}

// Save replaces the state with a copy of state (nil clears it).
func (c *Checkpoint) Save(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.saves++
	if state == nil {
		c.state = nil
		return nil
	}
	c.state = append([]byte(nil), state...)
	return nil
}

// Saves returns how many times Save was called (tests).
func (c *Checkpoint) Saves() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saves
}
