package main

import (
	"context"
	"net/http"

	"github.com/ilovevideoeditor/outputs/destination"
)

// completeDrive finishes the OAuth flow for caller, the user signed in where the callback
// arrived (the one place that calls CompleteDrive). The library refuses another user or
// workspace than the one that started the flow (drive.ErrCallerMismatch, a destination.ErrForbidden)
// before it uses the state, so a forwarded link cannot connect someone else's Drive.
func (s *server) completeDrive(ctx context.Context, caller destination.Caller, state, code, errParam string) (*destination.Integration, error) {
	return s.svc.CompleteDrive(ctx, caller, state, code, errParam)
}

func (s *server) driveAuthURL(w http.ResponseWriter, r *http.Request, c destination.Caller) {
	u, err := s.svc.DriveAuthURL(r.Context(), c)
	s.reply(w, r, http.StatusOK, map[string]string{"url": u}, err)
}

// driveCallback is reached by the user's browser coming back from Google. The browser's session
// (a cookie; or a bearer token for API clients) says who is signed in, and the flow completes
// only for the user and workspace that started it.
func (s *server) driveCallback(w http.ResponseWriter, r *http.Request) {
	c, err := s.session(r)
	if err != nil {
		c, err = s.auth(r)
	}
	if err != nil {
		s.fail(w, r, errUnauthenticated)
		return
	}
	q := r.URL.Query()
	v, err := s.completeDrive(r.Context(), c, q.Get("state"), q.Get("code"), q.Get("error"))
	if wantsHTML(r) { // a browser: back to Account > Integrations
		if err != nil {
			redirectError(w, r, err)
		} else {
			redirectNotice(w, r, "Connected "+v.Name+".")
		}
		return
	}
	s.reply(w, r, http.StatusOK, v, err)
}
