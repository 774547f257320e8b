package drivetest

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes the server fail chosen calls, the way Drive does under load.
type Fault struct {
	// Op selects the operation (see Server.Calls); empty matches every Drive API call.
	Op string
	// Match, when set, further selects requests.
	Match func(*http.Request) bool
	// Status is the HTTP status to answer: 503 (backendError), 500, 429 (rateLimitExceeded) or
	// 403 (with Reason, default "userRateLimitExceeded").
	Status int
	// Reason overrides the error reason ("rateLimitExceeded", "userRateLimitExceeded", ...).
	Reason string
	// RetryAfter, when positive, is sent as a Retry-After header (whole seconds, at least 1).
	RetryAfter time.Duration
	// Skip lets this many matching calls through before the fault applies.
	Skip int
	// Times is how many matching calls fail (0 means 1; negative means every one).
	Times int
	// KeepBytes, for "upload.chunk", stores up to this many bytes of the chunk (rounded down to
	// a multiple of 256 KiB, as Google's upload servers persist) before failing, like a
	// connection that broke mid-request: the client must ask where to resume.
	KeepBytes int64
	// LoseAnswer serves the request (the change is made) and then breaks the connection instead
	// of answering, like an answer lost on the way back: a client that retries must not make
	// the change twice.
	LoseAnswer bool

	hits int
}

// InjectFault adds a fault. Faults are checked in the order they were added; the first that
// applies to a request answers it.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// discardWriter is the ResponseWriter of a request whose answer is lost.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFaultLocked counts the request against every fault that matches it and returns the first
// fault that applies: each fault sees every matching call, so Skip: n fails the (n+1)th.
func (s *Server) takeFaultLocked(op string, r *http.Request) *Fault {
	var chosen *Fault
	for _, f := range s.faults {
		if (f.Op != "" && f.Op != op) || (f.Op == "" && strings.HasPrefix(op, "oauth.")) {
			continue
		}
		if f.Match != nil && !f.Match(r) {
			continue
		}
		f.hits++
		if chosen == nil && f.hits > f.Skip && (f.Times < 0 || f.hits <= f.Skip+f.Times) {
			chosen = f
		}
	}
	return chosen
}

func (f *Fault) serve(s *Server, w http.ResponseWriter, r *http.Request) {
	if f.KeepBytes > 0 && r.URL.Query().Get("upload_id") != "" {
		s.keepPartialChunk(r, f.KeepBytes)
	} else {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(f.RetryAfter/time.Second))))
	}
	e := gError{Code: f.Status, Domain: "global"}
	switch f.Status {
	case http.StatusTooManyRequests:
		e.Reason, e.Message, e.Domain, e.Status = "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits", "RESOURCE_EXHAUSTED"
	case http.StatusForbidden:
		e.Reason, e.Message, e.Domain, e.Status = "userRateLimitExceeded", "User rate limit exceeded.", "usageLimits", "PERMISSION_DENIED"
	case http.StatusInternalServerError:
		e.Reason, e.Message, e.Status = "internalError", "Internal Error", "INTERNAL"
	default:
		e.Reason, e.Message, e.Status = "backendError", "Backend Error", "UNAVAILABLE"
	}
	if f.Reason != "" {
		e.Reason = f.Reason
	}
	if e.Code == 0 {
		e.Code = http.StatusServiceUnavailable
	}
	writeGoogleError(w, e)
}
