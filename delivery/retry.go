package delivery

import (
	"math/rand/v2"
	"time"
)

// RetryPolicy is exponential backoff with jitter, bounded by attempts and a time budget. Zero
// fields take DefaultRetryPolicy's values.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, including the first.
	MaxAttempts int
	// BaseDelay is the wait after the first failed attempt; it doubles after each, up to
	// MaxDelay. Each wait is drawn uniformly from [d/2, d] ("equal jitter"): spread out, yet
	// never so short that the attempts burn out before an outage of the advertised length ends.
	// A provider's Retry-After hint lengthens a wait (never beyond MaxDelay).
	BaseDelay, MaxDelay time.Duration
	// Budget bounds the time one output may take, attempts and waits together, counted from
	// the start of its first attempt: time spent waiting for an upload slot does not count.
	Budget time.Duration
}

// DefaultRetryPolicy returns the policy the engine uses for zero fields: 8 attempts, 1 s base,
// 30 s cap, a 30-minute budget. Its waits add up to at least 45 s (1+2+4+8+16+30+30, halved),
// so one destination's 30-second outage never fails a delivery.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 8, BaseDelay: time.Second, MaxDelay: 30 * time.Second, Budget: 30 * time.Minute}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.Budget <= 0 {
		p.Budget = d.Budget
	}
	return p
}

// wait is the backoff after failed attempt number attempt (1-based), lengthened to the
// provider's hint.
func (p RetryPolicy) wait(attempt int, hint time.Duration) time.Duration {
	d := p.MaxDelay
	if attempt-1 < 32 {
		if b := p.BaseDelay << (attempt - 1); b > 0 && b < d {
			d = b
		}
	}
	w := d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	if hint > w {
		w = min(hint, p.MaxDelay)
	}
	return w
}
