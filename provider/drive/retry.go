package drive

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/time/rate"
	"google.golang.org/api/googleapi"
)

// RetryPolicy controls how the driver paces its calls and retries the ones Drive refuses for
// load: HTTP 5xx, 408, 429, 403 with reason rateLimitExceeded or userRateLimitExceeded, and
// broken connections. The zero value gives the defaults.
type RetryPolicy struct {
	// MaxAttempts is how many times one call is tried (default 10).
	MaxAttempts int
	// InitialBackoff is the first wait (default 1s); each retry doubles it, with jitter.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between attempts (default 16s).
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the driver waits for; a longer one ends the
	// call with the error (default 2 minutes).
	MaxRetryAfter time.Duration
	// MinInterval paces calls: at most one per MinInterval on average, after an initial burst
	// of Burst calls (defaults 100ms and 100, as rclone's Drive pacer). Negative disables pacing.
	MinInterval time.Duration
	// Burst is the pacer's burst size (default 100).
	Burst int
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 10
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 16 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 2 * time.Minute
	}
	if p.MinInterval == 0 {
		p.MinInterval = 100 * time.Millisecond
	}
	if p.Burst <= 0 {
		p.Burst = 100
	}
	return p
}

// pacer spaces calls and retries the retryable ones.
type pacer struct {
	policy  RetryPolicy
	limiter *rate.Limiter // nil: no pacing
}

func newPacer(p RetryPolicy) *pacer {
	p = p.withDefaults()
	pc := &pacer{policy: p}
	if p.MinInterval > 0 {
		pc.limiter = rate.NewLimiter(rate.Every(p.MinInterval), p.Burst)
	}
	return pc
}

// call runs fn until it succeeds, fails with an error that is not retryable, or runs out of
// attempts. Errors are normalized by classify.
func (p *pacer) call(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		if err := p.wait(ctx); err != nil {
			return err
		}
		err := classify(fn())
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctxErr(ctx, err)
		}
		if !retryable(err) || attempt+1 >= p.policy.MaxAttempts {
			return err
		}
		wait, ok := p.backoff(attempt, err)
		if !ok {
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// wait blocks until the pacer allows the next call.
func (p *pacer) wait(ctx context.Context) error {
	if p.limiter == nil {
		return ctx.Err()
	}
	if err := p.limiter.Wait(ctx); err != nil {
		return ctxErr(ctx, err)
	}
	return nil
}

// backoff returns the wait before retry number attempt+1: exponential with jitter, and at least
// the server's Retry-After. ok is false when Retry-After exceeds MaxRetryAfter.
func (p *pacer) backoff(attempt int, err error) (time.Duration, bool) {
	d := p.policy.InitialBackoff << min(attempt, 30)
	if d <= 0 || d > p.policy.MaxBackoff {
		d = p.policy.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	if ra := retryAfter(err); ra > 0 {
		if ra > p.policy.MaxRetryAfter {
			return 0, false
		}
		d = max(d, ra)
	}
	return d, true
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ctxErr prefers the context's error once it is done.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// retryable reports whether err is worth another attempt.
func retryable(err error) bool {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code >= 500 || ge.Code == http.StatusTooManyRequests || ge.Code == http.StatusRequestTimeout ||
			(ge.Code == http.StatusForbidden && isRateLimit(ge))
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.Response != nil && (re.Response.StatusCode >= 500 || re.Response.StatusCode == http.StatusTooManyRequests)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) && errors.Is(ue.Err, io.EOF)
}

// rateLimitReasons are the error reasons Drive uses when a client goes too fast.
var rateLimitReasons = map[string]bool{"rateLimitExceeded": true, "userRateLimitExceeded": true}

// quotaReasons are refusals for quota that retrying will not fix soon.
var quotaReasons = map[string]bool{"quotaExceeded": true, "storageQuotaExceeded": true,
	"dailyLimitExceeded": true, "teamDriveFileLimitExceeded": true, "sharingRateLimitExceeded": true}

func isRateLimit(ge *googleapi.Error) bool {
	for _, e := range ge.Errors {
		if rateLimitReasons[e.Reason] {
			return true
		}
	}
	return false
}

func isQuota(ge *googleapi.Error) bool {
	for _, e := range ge.Errors {
		if quotaReasons[e.Reason] {
			return true
		}
	}
	return false
}

// retryAfter returns the Retry-After the server sent with err, if any.
func retryAfter(err error) time.Duration {
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Header == nil {
		return 0
	}
	v := ge.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}
