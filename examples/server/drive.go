package main

import (
	"context"
	"net/http"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/provider/drive"
)

const callerKey ctxKey = requestIDKey + 1

// sameCaller wraps the Drive connector so that a callback completes only for the signed-in user
// and workspace that started the flow: the caller the callback handler put in the context must
// be the one sealed in the state. It refuses before the library stores anything (the state is
// spent either way). When Service.CompleteDrive takes the caller itself (issue 12), this
// adapter goes and completeDrive passes the caller on.
type sameCaller struct{ outputs.DriveConnector }

func (c sameCaller) Complete(ctx context.Context, state, code, errParam string) (*drive.Connection, error) {
	conn, err := c.DriveConnector.Complete(ctx, state, code, errParam)
	if err != nil {
		return nil, err
	}
	caller, ok := ctx.Value(callerKey).(destination.Caller)
	if !ok || caller.WorkspaceID != conn.WorkspaceID || caller.UserID != conn.UserID {
		return nil, errWrongUser
	}
	return conn, nil
}

// completeDrive finishes the OAuth flow for caller (the one place that calls CompleteDrive).
func (s *server) completeDrive(ctx context.Context, caller destination.Caller, state, code, errParam string) (*destination.Integration, error) {
	return s.svc.CompleteDrive(context.WithValue(ctx, callerKey, caller), state, code, errParam)
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
