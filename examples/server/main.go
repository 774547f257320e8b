// Command server is an example host: it serves the documented REST API over an outputs.Service —
// integrations, the legacy default destination, Google Drive over OAuth, renders with
// destinations and their status, redelivery — with its OpenAPI 3.1 document at /v1/openapi.json,
// and the Account > Integrations page at /account/integrations (sign in at
// /account/signin?as=dev-ws1).
//
//	go run ./examples/server -addr 127.0.0.1:8080 -sample testdata/render.mp4
//	curl -H 'Authorization: Bearer dev-ws1' localhost:8080/v1/integrations
//
// Authentication here is a stand-in: a bearer token "dev-<workspace>" acts in that workspace as
// user "user-<workspace>", "dev-<workspace>.<user>" as another user of it, and "key-unlinked" is
// an API key not linked to any workspace; the browser's session is a cookie "session" with the
// same values. A real host plugs its own JWT and API key checks into the Authenticator.
//
// Integrations are kept in memory, or in SQLite or PostgreSQL (-store), with a generated
// development keyset (so secrets stored by one run do not open in the next). "Rendering" copies
// the sample video (-sample; without it, deterministic bytes); the platform CDN is a directory
// served at /cdn/. Renders are delivered in process, or durably through River with -queue
// (sqlite:PATH, postgres:DSN, or sqlite / postgres alone for the store's database; see
// queue.go). Connection tests and deliveries reach S3-compatible, GCS, Azure and Drive
// storage; -allow-local-storage lets them reach emulators on loopback over http. Google Drive
// needs a Google OAuth web client (-google-client-id and -google-client-secret, or
// GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET); without one the Drive endpoints answer 501.
package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"gocloud.dev/blob/fileblob"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/destination/sqlstore"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/drive"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

//go:embed openapi.yaml
var openapiYAML []byte

// config is the server's configuration (flags in main).
type config struct {
	Addr       string // listen address
	PublicURL  string // base URL clients reach the server at (default http://<listen address>)
	Store      string // memory | sqlite:PATH | postgres:DSN
	Queue      string // "" (in-process delivery) | sqlite[:PATH] | postgres[:DSN] (River)
	AllowLocal bool   // storage on loopback over http (emulators)
	Sample     string // the file every render "renders"; empty: deterministic bytes
	CDNDir     string // the platform CDN stand-in; empty: a temporary directory

	GoogleClientID, GoogleClientSecret string
	GoogleAuthURL, GoogleTokenURL      string // override google.Endpoint (tests: drivetest)
	DriveAPI                           string // override the Drive API endpoint (tests: drivetest)

	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address")
	flag.StringVar(&c.PublicURL, "public-url", "", "base URL the server is reached at (default http://<addr>); the Drive callback is <public-url>/v1/integrations/drive/callback")
	flag.StringVar(&c.Store, "store", "memory", "where integrations are kept: memory, sqlite:PATH or postgres:DSN")
	flag.StringVar(&c.Queue, "queue", "", "deliver durably through River: sqlite:PATH or postgres:DSN, or sqlite / postgres alone for the store's database (default: none, in-process delivery)")
	flag.BoolVar(&c.AllowLocal, "allow-local-storage", false, "let integrations reach storage on loopback over http (local emulators)")
	flag.StringVar(&c.Sample, "sample", "", "the video every render produces (default: deterministic sample bytes)")
	flag.StringVar(&c.CDNDir, "cdn-dir", "", "directory standing in for the platform CDN (default: a temporary directory)")
	flag.StringVar(&c.GoogleClientID, "google-client-id", os.Getenv("GOOGLE_CLIENT_ID"), "Google OAuth web client ID (env GOOGLE_CLIENT_ID); enables Drive")
	flag.StringVar(&c.GoogleClientSecret, "google-client-secret", os.Getenv("GOOGLE_CLIENT_SECRET"), "Google OAuth client secret (env GOOGLE_CLIENT_SECRET)")
	flag.StringVar(&c.GoogleAuthURL, "google-auth-url", os.Getenv("GOOGLE_AUTH_URL"), "override Google's authorization endpoint (env GOOGLE_AUTH_URL)")
	flag.StringVar(&c.GoogleTokenURL, "google-token-url", os.Getenv("GOOGLE_TOKEN_URL"), "override Google's token endpoint (env GOOGLE_TOKEN_URL)")
	flag.StringVar(&c.DriveAPI, "drive-api", os.Getenv("DRIVE_API_URL"), "override the Drive v3 API endpoint (env DRIVE_API_URL)")
	flag.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "time to read a request's headers")
	flag.DurationVar(&c.ReadTimeout, "read-timeout", 30*time.Second, "time to read a whole request, body included (a stalled body is cut off)")
	flag.DurationVar(&c.WriteTimeout, "write-timeout", 2*time.Minute, "time to handle a request and write its answer (connection tests included)")
	flag.DurationVar(&c.IdleTimeout, "idle-timeout", 2*time.Minute, "time a keep-alive connection may stay idle")
	flag.Parse()
	log := slog.New(logHandler{slog.NewTextHandler(os.Stderr, nil)})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c, log); err != nil {
		log.Error("server stopped", "error", err)
		os.Exit(1)
	}
}

// run listens on c.Addr and serves until ctx ends.
func run(ctx context.Context, c config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + ln.Addr().String()
	}
	s, cleanup, err := newServer(ctx, c, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer cleanup()
	srv := newHTTPServer(c, s.handler())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", ln.Addr().String(), "public_url", c.PublicURL, "store", storeKind(c.Store), "queue", storeKind(c.Queue))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// newHTTPServer sets every timeout: a client that stalls its headers, its body or its reading
// of the answer does not hold a connection.
func newHTTPServer(c config, h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: 64 << 10}
}

func storeKind(s string) string { k, _, _ := strings.Cut(s, ":"); return k }

// newServer wires the library: store, keyring, providers, the Drive connection, the CDN.
func newServer(ctx context.Context, c config, log *slog.Logger) (*server, func(), error) {
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*server, func(), error) { cleanup(); return nil, nil, err }

	store, closeStore, err := openStore(ctx, c.Store)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, closeStore)
	qspec, err := queueSpec(c.Queue, c.Store)
	if err != nil {
		return fail(err)
	}
	var qdb *queueDB
	var deliveries destination.DeliveryStore
	if qspec != "" {
		if qdb, err = openQueueDB(ctx, qspec); err != nil {
			return fail(err)
		}
		closers = append(closers, qdb.close)
		deliveries = qdb.deliveries
	}
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		return fail(err)
	}
	popts := provider.Options{Logger: log}
	if c.AllowLocal {
		popts.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	var svc *outputs.Service
	drivers := []provider.Driver{s3.NewDriver(s3.Options{}), gcs.NewDriver(gcs.Options{}), azure.NewDriver(azure.Options{})}
	var connector outputs.DriveConnector
	var authURL string
	if c.GoogleClientID != "" {
		oc := &oauth2.Config{ClientID: c.GoogleClientID, ClientSecret: c.GoogleClientSecret, Endpoint: google.Endpoint,
			RedirectURL: strings.TrimSuffix(c.PublicURL, "/") + "/v1/integrations/drive/callback"}
		if c.GoogleAuthURL != "" {
			oc.Endpoint.AuthURL = c.GoogleAuthURL
		}
		if c.GoogleTokenURL != "" {
			oc.Endpoint.TokenURL = c.GoogleTokenURL
			oc.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		}
		drivers = append(drivers, drive.NewDriver(drive.DriverOptions{OAuth: oc, Options: drive.Options{Endpoint: c.DriveAPI},
			TokenRotated: func(ctx context.Context, in *destination.Integration, rt string) error {
				return svc.SaveDriveToken(ctx, in, rt)
			}}))
		stateKeys, err := crypto.NewInsecureDevelopmentKeyring() // a keyset of its own for OAuth states
		if err != nil {
			return fail(err)
		}
		conn, err := drive.NewConnector(drive.ConnectorOptions{OAuth: oc, State: stateKeys})
		if err != nil {
			return fail(err)
		}
		connector = conn
		authURL = oc.Endpoint.AuthURL
	}
	providers, err := provider.New(kr, popts, drivers...)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { providers.Close() })
	if c.CDNDir == "" {
		dir, err := os.MkdirTemp("", "outputs-cdn-")
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() { os.RemoveAll(dir) })
		c.CDNDir = dir
	}
	cdn, err := fileblob.OpenBucket(c.CDNDir, &fileblob.Options{CreateDir: true, NoTempDir: true})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { cdn.Close() })
	cdnAPI, err := provider.NewCDN(cdn, provider.CDNOptions{BaseURL: strings.TrimSuffix(c.PublicURL, "/") + "/cdn", Logger: log})
	if err != nil {
		return fail(err)
	}
	svc, err = outputs.New(outputs.Options{Store: store, Keyring: kr, Uploader: providers, Logger: log,
		AllowInsecureEndpoints: c.AllowLocal, Drive: connector, Deliveries: deliveries,
		Delivery: outputs.DeliveryOptions{CDN: cdnAPI, CDNKeyPrefix: cdnKeyPrefix}})
	if err != nil {
		return fail(err)
	}
	sample, err := loadSample(c.Sample)
	if err != nil {
		return fail(err)
	}
	spec, err := openapiJSON(ctx)
	if err != nil {
		return fail(err)
	}
	bg, cancel := context.WithCancel(context.Background())
	s := &server{svc: svc, store: store, auth: bearerAuth, session: cookieAuth, log: log,
		renders: newRenderStore(), sample: sample, cdn: cdn, cdnKeys: cdnAPI, openapi: spec, bg: bg, cancel: cancel,
		csrfKey: newCSRFKey(), publicOrigin: originOf(c.PublicURL)}
	if connector != nil {
		s.formActionExtra = originOf(authURL)
	}
	closers = append(closers, s.close)
	s.deliver = inProcess{s}
	if qdb != nil {
		q, stopQueue, err := startQueue(ctx, qdb, svc, cdnAPI, kr, sample, log)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, stopQueue)
		s.deliver = q
	}
	return s, cleanup, nil
}

// originOf returns scheme://host of u.
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// openStore opens memory, sqlite:PATH or postgres:DSN and applies the migrations.
func openStore(ctx context.Context, spec string) (destination.Store, func(), error) {
	kind, arg, _ := strings.Cut(spec, ":")
	var db *sql.DB
	var d sqlstore.Dialect
	var err error
	switch {
	case spec == "memory":
		return memstore.New(), func() {}, nil
	case kind == "sqlite" && arg != "":
		db, err = sqlstore.OpenSQLite(arg)
		d = sqlstore.SQLite
	case kind == "postgres" && arg != "":
		db, err = sql.Open("pgx", arg)
		d = sqlstore.PostgreSQL
	default:
		return nil, nil, fmt.Errorf("-store %q: want memory, sqlite:PATH or postgres:DSN", spec)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	st := sqlstore.New(db, d, nil)
	if err := st.Migrate(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrate store: %w", err)
	}
	return st, func() { db.Close() }, nil
}

// loadSample reads the sample video, or makes 256 KiB of deterministic bytes.
func loadSample(name string) ([]byte, error) {
	if name != "" {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("sample video: %w", err)
		}
		return b, nil
	}
	b := make([]byte, 0, 256<<10)
	block := sha256.Sum256([]byte("outputs sample render"))
	for len(b) < cap(b) {
		b = append(b, block[:]...)
		block = sha256.Sum256(block[:])
	}
	return b, nil
}

// openapiJSON loads and validates the embedded OpenAPI document and returns it as JSON.
func openapiJSON(ctx context.Context) ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openapiYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
}

// devAuth is the example's stand-in authentication (see the package doc) for a token.
func devAuth(tok string) (destination.Caller, error) {
	switch {
	case tok == "key-unlinked":
		return destination.Caller{APIKeyOnly: true}, nil
	case strings.HasPrefix(tok, "dev-") && len(tok) > 4:
		ws, user, ok := strings.Cut(strings.TrimPrefix(tok, "dev-"), ".")
		if !ok {
			user = "user-" + ws
		}
		if ws == "" || user == "" {
			break
		}
		return destination.Caller{WorkspaceID: ws, UserID: user}, nil
	}
	return destination.Caller{}, errUnauthenticated
}

// bearerAuth authenticates API requests by their Authorization header.
func bearerAuth(r *http.Request) (destination.Caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return destination.Caller{}, errUnauthenticated
	}
	return devAuth(tok)
}

// cookieAuth authenticates the browser's signed-in user by the session cookie.
func cookieAuth(r *http.Request) (destination.Caller, error) {
	ck, err := r.Cookie("session")
	if err != nil {
		return destination.Caller{}, errUnauthenticated
	}
	return devAuth(ck.Value)
}
