package delivery

import (
	"context"
	"sync"
)

// slots limits the attempts in flight: globally, and per workspace under the global limit. A
// waiter takes its workspace's slot first, so a workspace at its cap never holds a global slot
// another workspace could use.
type slots struct {
	global chan struct{}
	perWS  int

	mu sync.Mutex
	ws map[string]*wsSlots
}

type wsSlots struct {
	ch   chan struct{}
	refs int // holders and waiters; the entry is dropped at zero
}

func newSlots(global, perWorkspace int) *slots {
	return &slots{global: make(chan struct{}, global), perWS: perWorkspace, ws: map[string]*wsSlots{}}
}

// acquire takes a slot for workspace, or fails when ctx ends first.
func (s *slots) acquire(ctx context.Context, workspace string) (release func(), err error) {
	w := s.ref(workspace)
	select {
	case w.ch <- struct{}{}:
	case <-ctx.Done():
		s.unref(workspace)
		return nil, ctx.Err()
	}
	select {
	case s.global <- struct{}{}:
	case <-ctx.Done():
		<-w.ch
		s.unref(workspace)
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-s.global
			<-w.ch
			s.unref(workspace)
		})
	}, nil
}

func (s *slots) ref(workspace string) *wsSlots {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.ws[workspace]
	if w == nil {
		w = &wsSlots{ch: make(chan struct{}, s.perWS)}
		s.ws[workspace] = w
	}
	w.refs++
	return w
}

func (s *slots) unref(workspace string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.ws[workspace]; w != nil {
		if w.refs--; w.refs == 0 {
			delete(s.ws, workspace)
		}
	}
}
