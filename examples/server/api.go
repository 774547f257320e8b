package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
)

// Authenticator maps a request to its caller. A real host checks a JWT or an API key here.
type Authenticator func(*http.Request) (destination.Caller, error)

// server serves the documented REST API over an outputs.Service.
type server struct {
	svc     *outputs.Service
	store   destination.Store
	auth    Authenticator
	session Authenticator // the browser's signed-in user (Drive callback, pages)
	log     *slog.Logger
	deliver deliverer
	renders *renderStore
	sample  []byte
	cdn     *blob.Bucket
	cdnKeys destination.CDN // the same bucket as the engine sees it (redelivery streams it back)
	openapi []byte

	csrfKey         []byte // binds the page's CSRF tokens to their session
	publicOrigin    string // the Origin of this server's pages
	formActionExtra string // where forms may lead besides 'self' (Google's consent screen)

	bg     context.Context // deliveries run under it; cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// close stops the deliveries in flight and waits for them.
func (s *server) close() {
	s.cancel()
	s.wg.Wait()
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/integrations", s.authed(s.list))
	mux.HandleFunc("POST /v1/integrations", s.authed(s.create))
	mux.HandleFunc("GET /v1/integrations/{id}", s.authed(s.get))
	mux.HandleFunc("PATCH /v1/integrations/{id}", s.authed(s.patch))
	mux.HandleFunc("DELETE /v1/integrations/{id}", s.authed(s.delete))
	mux.HandleFunc("POST /v1/integrations/{id}/test", s.authed(s.test))
	mux.HandleFunc("GET /v1/integrations/drive/auth-url", s.authed(s.driveAuthURL))
	mux.HandleFunc("GET /v1/integrations/drive/callback", s.driveCallback)
	mux.HandleFunc("GET /v1/destination", s.authed(s.getDefault))
	mux.HandleFunc("PUT /v1/destination", s.authed(s.putDefault))
	mux.HandleFunc("DELETE /v1/destination", s.authed(s.deleteDefault))
	mux.HandleFunc("POST /v1/destination/test", s.authed(s.testDefault))
	mux.HandleFunc("POST /v1/renders/resolve", s.authed(s.resolve))
	mux.HandleFunc("POST /v1/renders", s.authed(s.createRender))
	mux.HandleFunc("GET /v1/renders/{id}", s.authed(s.getRender))
	mux.HandleFunc("POST /v1/renders/{id}/redeliver", s.authed(s.redeliver))
	mux.HandleFunc("GET /cdn/{key...}", s.serveCDN)
	mux.HandleFunc("GET /account/signin", s.signin)
	mux.HandleFunc("GET /account/integrations", s.page)
	mux.HandleFunc("POST /account/integrations", s.pageCreate)
	mux.HandleFunc("POST /account/integrations/drive", s.pageDrive)
	mux.HandleFunc("GET /account/integrations/{id}/edit", s.pageEdit)
	mux.HandleFunc("POST /account/integrations/{id}", s.pageUpdate)
	mux.HandleFunc("POST /account/integrations/{id}/{action}", s.pageAction)
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.openapi)
	})
	return withRequestID(s.log, jsonRouting(mux, s))
}

type handler func(w http.ResponseWriter, r *http.Request, c destination.Caller)

func (s *server) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.auth(r)
		if err != nil {
			s.fail(w, r, errUnauthenticated)
			return
		}
		h(w, r, c)
	}
}

// Pagination of lists: limit (1-100, default 50) and an opaque cursor; order is creation time,
// then ID, which a later page never reorders (new items come last).
const (
	defaultLimit = 50
	maxLimit     = 100
)

type page struct {
	Integrations []*destination.Integration `json:"integrations"`
	NextCursor   string                     `json:"nextCursor,omitempty"`
}

func (s *server) list(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	limit, after, err := pageParams(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	all, err := s.svc.ListIntegrations(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := page{Integrations: []*destination.Integration{}}
	for _, in := range all {
		if after != nil && !after.before(in) {
			continue
		}
		if len(p.Integrations) == limit {
			p.NextCursor = cursorOf(p.Integrations[limit-1])
			break
		}
		p.Integrations = append(p.Integrations, in)
	}
	writeJSON(w, http.StatusOK, p)
}

// cursor is the position after the last item of a page.
type cursor struct {
	t  time.Time
	id string
}

func (c *cursor) before(in *destination.Integration) bool {
	return in.CreatedAt.After(c.t) || in.CreatedAt.Equal(c.t) && in.ID > c.id
}

func cursorOf(in *destination.Integration) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1|" + in.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + in.ID))
}

func pageParams(q url.Values) (int, *cursor, error) {
	var p destination.Problems
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			p.Add("limit", destination.CodeInvalid, "must be an integer from 1 to 100")
		}
		limit = n
	}
	var after *cursor
	if v := q.Get("cursor"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		parts := strings.SplitN(string(raw), "|", 3)
		var t time.Time
		if err == nil && len(parts) == 3 && parts[0] == "v1" {
			t, err = time.Parse(time.RFC3339Nano, parts[1])
		}
		if err != nil || len(parts) != 3 || parts[0] != "v1" {
			p.Add("cursor", destination.CodeInvalid, "is not a cursor this server returned")
		} else {
			after = &cursor{t: t, id: parts[2]}
		}
	}
	return limit, after, p.Err()
}

// body reads the request body (at most limit bytes), checks its keys against sh and normalizes it.
func (s *server) body(w http.ResponseWriter, r *http.Request, limit int64, sh *shape) ([]byte, error) {
	b, err := readBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	return decodeBody(b, sh)
}

func (s *server) create(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	v, err := s.createLike(w, r, func(in outputs.CreateInput) (*destination.Integration, error) {
		return s.svc.CreateIntegration(r.Context(), c, in)
	})
	if err == nil {
		w.Header().Set("Location", "/v1/integrations/"+url.PathEscape(v.ID))
	}
	s.reply(w, r, http.StatusCreated, v, err)
}

func (s *server) putDefault(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	v, err := s.createLike(w, r, func(in outputs.CreateInput) (*destination.Integration, error) {
		return s.svc.PutDefault(r.Context(), c, in)
	})
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *server) createLike(w http.ResponseWriter, r *http.Request, do func(outputs.CreateInput) (*destination.Integration, error)) (*destination.Integration, error) {
	b, err := s.body(w, r, maxIntegrationBody, createShape)
	if err != nil {
		return nil, err
	}
	in, err := outputs.DecodeCreateInput(b)
	if err != nil {
		return nil, err
	}
	return do(in)
}

func (s *server) get(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	v, err := s.svc.GetIntegration(r.Context(), c, r.PathValue("id"))
	s.reply(w, r, http.StatusOK, v, err)
}

// patch applies a partial update. config is a JSON merge patch (RFC 7396) over the stored
// configuration: members replace, null removes (a secret cannot be removed: it is kept), and
// secret fields stay write-only (the masked hint, or omitting them, keeps the stored secret).
// Deactivating the default is refused unless the same patch also sets isDefault to false.
func (s *server) patch(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	v, err := s.patchIntegration(w, r, c)
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *server) patchIntegration(w http.ResponseWriter, r *http.Request, c destination.Caller) (*destination.Integration, error) {
	b, err := s.body(w, r, maxIntegrationBody, updateShape)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if kind(b) != '{' || json.Unmarshal(b, &top) != nil {
		_, err := outputs.DecodeUpdateInput(b) // its precise error
		if err == nil {
			err = &destination.ValidationError{Errors: []destination.FieldError{{Code: destination.CodeInvalid, Message: "the body must be a JSON object"}}}
		}
		return nil, err
	}
	cfgPatch, hasConfig := top["config"]
	delete(top, "config")
	rest, _ := json.Marshal(top)
	in, err := outputs.DecodeUpdateInput(rest)
	if err != nil {
		return nil, err
	}
	if hasConfig && kind(cfgPatch) != '{' {
		return nil, &destination.ValidationError{Errors: []destination.FieldError{{Field: "config", Code: destination.CodeInvalid,
			Message: "must be a JSON object (a merge patch of the configuration)"}}}
	}
	id := r.PathValue("id")
	for attempt := 0; ; attempt++ {
		cur, err := s.svc.GetIntegration(r.Context(), c, id)
		if err != nil {
			return nil, err
		}
		if in.Version != 0 && in.Version != cur.Version {
			return nil, destination.ErrConflict
		}
		if cur.IsDefault && in.IsActive != nil && !*in.IsActive && (in.IsDefault == nil || *in.IsDefault) {
			return nil, &stateError{code: "is_default", fields: []destination.FieldError{{Field: "isActive", Code: "is_default",
				Message: `the default integration cannot be deactivated (renders without destinations would silently skip it): send "isDefault": false with it, or make another integration the default first`}}}
		}
		u := in
		u.Version = cur.Version
		if hasConfig {
			curCfg, _ := json.Marshal(cur.Config)
			merged, err := mergePatch(curCfg, cfgPatch)
			if err != nil {
				return nil, err
			}
			cfg, err := destination.DecodeConfig(merged)
			if err != nil {
				return nil, err
			}
			u.Config = &cfg
		}
		v, err := s.svc.UpdateIntegration(r.Context(), c, id, u)
		if errors.Is(err, destination.ErrConflict) && in.Version == 0 && attempt < 3 {
			continue // changed between our read and write: merge onto the new state
		}
		return v, err
	}
}

func (s *server) delete(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	s.reply(w, r, http.StatusNoContent, nil, s.svc.DeleteIntegration(r.Context(), c, r.PathValue("id")))
}

func (s *server) test(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	res, err := s.svc.TestIntegration(r.Context(), c, r.PathValue("id"))
	s.reply(w, r, http.StatusOK, res, err)
}

func (s *server) getDefault(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	v, err := s.svc.GetDefault(r.Context(), c)
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *server) deleteDefault(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	s.reply(w, r, http.StatusNoContent, nil, s.svc.DeleteDefault(r.Context(), c))
}

func (s *server) testDefault(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	res, err := s.svc.TestDefault(r.Context(), c)
	s.reply(w, r, http.StatusOK, res, err)
}

// resolvedTarget is a target as the API shows it.
type resolvedTarget struct {
	IntegrationID string               `json:"integrationId"`
	Provider      destination.Provider `json:"provider"`
	PathPrefix    string               `json:"pathPrefix"`
}

// resolve checks a videoJSON's destinations without rendering: the targets it would deliver to.
func (s *server) resolve(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	targets, err := s.resolveBody(w, r, c)
	out := make([]resolvedTarget, len(targets))
	for i, t := range targets {
		out[i] = resolvedTarget{t.IntegrationID, t.Provider, t.Prefix}
	}
	s.reply(w, r, http.StatusOK, map[string]any{"destinations": out}, err)
}

// resolveBody reads a videoJSON and resolves its destinations, reporting every problem at once:
// unknown or misspelled keys of the entries together with the library's checks.
func (s *server) resolveBody(w http.ResponseWriter, r *http.Request, c destination.Caller) ([]destination.Target, error) {
	b, err := readBody(w, r, maxRenderBody)
	if err != nil {
		return nil, err
	}
	if err := oneValue(b); err != nil {
		return nil, err
	}
	if kind(b) != '{' {
		return nil, &destination.ValidationError{Errors: []destination.FieldError{{Field: "videoJSON", Code: destination.CodeInvalid, Message: "must be a JSON object"}}}
	}
	var probs destination.Problems
	probs.Merge("", checkKeys(b, renderShape))
	targets, err := s.svc.ResolveDestinations(r.Context(), c, b)
	var ve *destination.ValidationError
	if err != nil && !errors.As(err, &ve) {
		return nil, err
	}
	probs.Merge("", err)
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return targets, nil
}

// serveCDN serves the stand-in platform CDN (a directory): the top-level url of a render.
func (s *server) serveCDN(w http.ResponseWriter, r *http.Request) {
	rd, err := s.cdn.NewReader(r.Context(), r.PathValue("key"), nil)
	if err != nil {
		s.fail(w, r, errNotRoute)
		return
	}
	defer rd.Close()
	w.Header().Set("Content-Type", rd.ContentType())
	w.Header().Set("Content-Length", strconv.FormatInt(rd.Size(), 10))
	_, _ = rd.WriteTo(w)
}
