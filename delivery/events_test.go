package delivery_test

import (
	"sync"

	"github.com/ilovevideoeditor/outputs/delivery"
)

// events records the engine's events.
type events struct {
	mu   sync.Mutex
	list []delivery.Event
}

func (e *events) add(ev delivery.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *events) all() []delivery.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]delivery.Event(nil), e.list...)
}
