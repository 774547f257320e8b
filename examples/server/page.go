package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
)

//go:embed web/integrations.html
var webFS embed.FS

var pageTmpl = template.Must(template.ParseFS(webFS, "web/integrations.html"))

// formField is one input of an integration form.
type formField struct {
	Name, Label, InputID       string
	Value, Placeholder         string
	Error                      string
	Secret, Textarea, Required bool
}

// integrationForm is a create or edit form for one provider family.
type integrationForm struct {
	ID, Title, Action, Submit string
	Provider                  string
	Providers                 []string // a select for the S3-compatible family
	Fields                    []formField
	ShowDefault, IsDefault    bool
	FormError                 string
}

type pageData struct {
	Caller       destination.Caller
	CSRF         string
	Notice       string
	PageError    string
	Integrations []*destination.Integration
	Forms        []integrationForm
}

// fieldSpec is a documented configuration field of a provider family.
type fieldSpec struct {
	name, label      string
	secret, textarea bool
	required         bool
}

var s3Fields = []fieldSpec{
	{"bucket", "Bucket", false, false, true}, {"accessKeyId", "Access key ID", false, false, true},
	{"secretAccessKey", "Secret access key", true, false, true}, {"endpoint", "Endpoint (R2, B2; optional for Wasabi)", false, false, false},
	{"region", "Region", false, false, false}, {"publicUrl", "Public URL", false, false, false}, {"pathPrefix", "Path prefix", false, false, false},
}

var familyFields = map[string][]fieldSpec{
	"s3": s3Fields,
	"gcs": {{"bucket", "Bucket", false, false, true}, {"gcsServiceAccountJson", "Service account JSON key", true, true, true},
		{"gcsProjectId", "Project ID", false, false, false}, {"publicUrl", "Public URL", false, false, false}, {"pathPrefix", "Path prefix", false, false, false}},
	"azure": {{"azureAccountName", "Account name", false, false, true}, {"azureAccountKey", "Account key", true, false, true},
		{"azureContainerName", "Container name", false, false, true}, {"publicUrl", "Public URL", false, false, false}, {"pathPrefix", "Path prefix", false, false, false}},
	"drive": {{"driveFolderId", "Folder ID", false, false, false}, {"pathPrefix", "Path prefix", false, false, false}},
}

func family(p destination.Provider) string {
	if p.S3Compatible() {
		return "s3"
	}
	return string(p)
}

// configValue and setConfigValue read and write a Config field by its JSON name.
func configValue(c destination.Config, name string) string {
	m := map[string]string{}
	b, _ := json.Marshal(c)
	_ = json.Unmarshal(b, &m)
	return m[name]
}

// buildForm makes the form of a family with values (JSON name → value) and errors (field path → message).
func buildForm(id, title, action, submit, provider string, values map[string]string, hints map[string]string, errs map[string]string) integrationForm {
	f := integrationForm{ID: id, Title: title, Action: action, Submit: submit, Provider: provider, FormError: errs[""]}
	fam := family(destination.Provider(provider))
	if fam == "s3" && strings.HasPrefix(id, "new") {
		f.Providers = []string{"s3", "r2", "b2", "wasabi"}
	}
	for _, fs := range familyFields[fam] {
		ff := formField{Name: "config." + fs.name, Label: fs.label, InputID: id + "-" + fs.name, Secret: fs.secret,
			Textarea: fs.textarea, Required: fs.required, Error: errs["config."+fs.name]}
		if fs.secret {
			ff.Placeholder = hints[fs.name] // write-only: the masked hint, never the value
			if ff.Placeholder != "" {
				ff.Required = false
			}
		} else {
			ff.Value = values[fs.name]
		}
		f.Fields = append(f.Fields, ff)
	}
	f.Fields = append([]formField{{Name: "name", Label: "Name", InputID: id + "-name", Value: values["name"], Required: true, Error: errs["name"]}}, f.Fields...)
	return f
}

// csrfToken is bound to the session: HMAC(server key, session value). Every form carries it.
func (s *server) csrfToken(session string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("csrf/" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func newCSRFKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// pageCaller authenticates the page by the session cookie; POSTs must carry the form's CSRF
// token and, when the browser sends one, an Origin of this server.
func (s *server) pageCaller(w http.ResponseWriter, r *http.Request) (destination.Caller, string, bool) {
	c, err := s.session(r)
	if err != nil {
		http.Redirect(w, r, "/account/signin", http.StatusSeeOther)
		return c, "", false
	}
	ck, _ := r.Cookie("session")
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxIntegrationBody)
		tok := r.PostFormValue("csrf")
		origin := r.Header.Get("Origin")
		if !hmac.Equal([]byte(tok), []byte(s.csrfToken(ck.Value))) || (origin != "" && origin != s.publicOrigin) {
			http.Error(w, "403 forbidden: the form's CSRF token is missing or invalid; reload the page", http.StatusForbidden)
			return c, "", false
		}
	}
	return c, ck.Value, true
}

// signin is the stand-in sign-in: it sets the session cookie ("dev-<workspace>").
func (s *server) signin(w http.ResponseWriter, r *http.Request) {
	as := r.URL.Query().Get("as")
	if _, err := devAuth(as); err != nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>Sign in</title><form method="get"><label for="as">Token (dev-&lt;workspace&gt;)</label><input id="as" name="as"><button>Sign in</button></form>`))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Value: as, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/account/integrations", http.StatusSeeOther)
}

func (s *server) page(w http.ResponseWriter, r *http.Request) {
	c, sess, ok := s.pageCaller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	s.renderPage(w, r, c, sess, http.StatusOK, q.Get("notice"), q.Get("error"), nil)
}

// renderPage lists the integrations with the create forms (or the given forms, with errors).
func (s *server) renderPage(w http.ResponseWriter, r *http.Request, c destination.Caller, sess string, status int, notice, pageErr string, forms []integrationForm) {
	list, err := s.svc.ListIntegrations(r.Context(), c)
	if err != nil {
		_, body, _ := httpError(err)
		pageErr = body.Message
	}
	if forms == nil {
		forms = []integrationForm{
			buildForm("new-s3", "Add S3-compatible storage (S3, R2, B2, Wasabi)", "/account/integrations", "Create", "s3", nil, nil, nil),
			buildForm("new-gcs", "Add Google Cloud Storage", "/account/integrations", "Create", "gcs", nil, nil, nil),
			buildForm("new-azure", "Add Azure Blob Storage", "/account/integrations", "Create", "azure", nil, nil, nil),
		}
		for i := range forms {
			forms[i].ShowDefault = true
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; form-action 'self' "+s.formActionExtra)
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, pageData{Caller: c, CSRF: s.csrfToken(sess), Notice: notice, PageError: pageErr, Integrations: list, Forms: forms}); err != nil {
		s.log.ErrorContext(r.Context(), "page", "error", err)
	}
}

// formConfig reads the config.* inputs of the provider's family.
func formConfig(r *http.Request, p destination.Provider) (destination.Config, map[string]string) {
	values := map[string]string{"name": r.PostFormValue("name")}
	m := map[string]string{}
	for _, fs := range familyFields[family(p)] {
		v := r.PostFormValue("config." + fs.name)
		m[fs.name] = v
		if !fs.secret {
			values[fs.name] = v
		}
	}
	var cfg destination.Config
	b, _ := json.Marshal(m)
	_ = json.Unmarshal(b, &cfg)
	return cfg, values
}

// fieldErrors maps an error to messages by field path ("" for the form).
func fieldErrors(err error) map[string]string {
	errs := map[string]string{}
	var ve *destination.ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			if _, dup := errs[fe.Field]; !dup {
				errs[fe.Field] = fe.Message
			}
		}
		return errs
	}
	_, body, _ := httpError(err)
	errs[""] = body.Message
	return errs
}

func (s *server) pageCreate(w http.ResponseWriter, r *http.Request) {
	c, sess, ok := s.pageCaller(w, r)
	if !ok {
		return
	}
	p := destination.Provider(r.PostFormValue("provider"))
	cfg, values := formConfig(r, p)
	in := outputs.CreateInput{Provider: p, Name: r.PostFormValue("name"), IsDefault: r.PostFormValue("isDefault") == "true", Config: cfg}
	v, err := s.svc.CreateIntegration(r.Context(), c, in)
	if err != nil {
		fam := family(p)
		if _, ok := familyFields[fam]; !ok || fam == "drive" {
			fam, p = "s3", destination.S3
		}
		f := buildForm("new-"+fam, "Add "+string(p)+" storage", "/account/integrations", "Create", string(p), values, nil, fieldErrors(err))
		f.ShowDefault, f.IsDefault = true, in.IsDefault
		s.renderPage(w, r, c, sess, http.StatusBadRequest, "", "The integration was not created: fix the fields marked below.", []integrationForm{f})
		return
	}
	redirectNotice(w, r, "Created "+v.Name+".")
}

func (s *server) pageEdit(w http.ResponseWriter, r *http.Request) {
	c, sess, ok := s.pageCaller(w, r)
	if !ok {
		return
	}
	v, err := s.svc.GetIntegration(r.Context(), c, r.PathValue("id"))
	if err != nil {
		redirectError(w, r, err)
		return
	}
	s.renderPage(w, r, c, sess, http.StatusOK, "", "", []integrationForm{editForm(v, nil, nil)})
}

func editForm(v *destination.Integration, values, errs map[string]string) integrationForm {
	hints := map[string]string{}
	if values == nil {
		values = map[string]string{"name": v.Name}
		for _, fs := range familyFields[family(v.Provider)] {
			values[fs.name] = configValue(v.Config, fs.name)
		}
	}
	for _, f := range destination.SecretFields(v.Provider) {
		if h := v.Config.Secret(f); h != "" {
			hints[string(f)] = h + " (stored; leave empty to keep)"
		}
	}
	return buildForm("edit", "Edit "+v.Name+" ("+string(v.Provider)+")", "/account/integrations/"+url.PathEscape(v.ID), "Save", string(v.Provider), values, hints, errs)
}

func (s *server) pageUpdate(w http.ResponseWriter, r *http.Request) {
	c, sess, ok := s.pageCaller(w, r)
	if !ok {
		return
	}
	cur, err := s.svc.GetIntegration(r.Context(), c, r.PathValue("id"))
	if err != nil {
		redirectError(w, r, err)
		return
	}
	cfg, values := formConfig(r, cur.Provider)
	name := r.PostFormValue("name")
	v, err := s.svc.UpdateIntegration(r.Context(), c, cur.ID, outputs.UpdateInput{Version: cur.Version, Name: &name, Config: &cfg})
	if err != nil {
		s.renderPage(w, r, c, sess, http.StatusBadRequest, "", "The changes were not saved: fix the fields marked below.", []integrationForm{editForm(cur, values, fieldErrors(err))})
		return
	}
	redirectNotice(w, r, "Saved "+v.Name+".")
}

// pageAction runs one button of a row (test, default, deactivate, delete).
func (s *server) pageAction(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.pageCaller(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	ctx := r.Context()
	var err error
	notice := ""
	switch r.PathValue("action") {
	case "test":
		var res *destination.TestResult
		if res, err = s.svc.TestIntegration(ctx, c, id); err == nil {
			notice = "Test: " + res.Code
			if res.Message != "" {
				notice += " — " + res.Message
			}
		}
	case "default":
		_, err = s.svc.SetDefault(ctx, c, id)
		notice = "Default destination changed."
	case "deactivate":
		f := false
		_, err = s.svc.UpdateIntegration(ctx, c, id, outputs.UpdateInput{IsActive: &f, IsDefault: &f})
		notice = "Deactivated (it is no longer the default)."
	case "delete":
		err = s.svc.DeleteIntegration(ctx, c, id)
		notice = "Deleted."
	default:
		err = errNotRoute
	}
	if err != nil {
		redirectError(w, r, err)
		return
	}
	redirectNotice(w, r, notice)
}

// pageDrive starts the Drive connection: to Google's consent screen.
func (s *server) pageDrive(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.pageCaller(w, r)
	if !ok {
		return
	}
	u, err := s.svc.DriveAuthURL(r.Context(), c)
	if err != nil {
		redirectError(w, r, err)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func redirectNotice(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, "/account/integrations?notice="+url.QueryEscape(msg), http.StatusSeeOther)
}

func redirectError(w http.ResponseWriter, r *http.Request, err error) {
	_, body, _ := httpError(err)
	http.Redirect(w, r, "/account/integrations?error="+url.QueryEscape(body.Message), http.StatusSeeOther)
}

// wantsHTML reports a browser navigation (the Drive callback then returns to the page).
func wantsHTML(r *http.Request) bool { return strings.Contains(r.Header.Get("Accept"), "text/html") }
