// Command server is an example host: it serves the documented REST API (integrations, the legacy
// default destination, Drive OAuth, destination resolution) over an outputs.Service.
//
//	go run ./examples/server -addr 127.0.0.1:8080
//	curl -H 'Authorization: Bearer dev-ws1' localhost:8080/v1/integrations
//
// Authentication here is a stand-in: a bearer token "dev-<workspace>" acts in that workspace, and
// "key-unlinked" is an API key not linked to any workspace. A real host plugs its own JWT and API
// key checks into the Authenticator. Everything is kept in memory with a generated development
// keyset. Connection tests reach S3-compatible, GCS and Azure storage (-allow-local-storage lets
// them reach emulators on loopback over http); the Drive endpoints answer 501 here because the
// Drive connection needs the host's Google OAuth client (see outputs.Options.Drive).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/crypto"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/destination/memstore"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
	"github.com/ilovevideoeditor/outputs/provider/gcs"
	"github.com/ilovevideoeditor/outputs/provider/s3"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	local := flag.Bool("allow-local-storage", false, "let integrations reach storage on loopback over http (local emulators)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *local, log); err != nil {
		log.Error("server stopped", "error", err)
		os.Exit(1)
	}
}

func run(addr string, local bool, log *slog.Logger) error {
	kr, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		return err
	}
	popts := provider.Options{Logger: log}
	if local {
		popts.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	providers, err := provider.New(kr, popts, s3.NewDriver(s3.Options{}), gcs.NewDriver(gcs.Options{}), azure.NewDriver(azure.Options{}))
	if err != nil {
		return err
	}
	defer providers.Close()
	svc, err := outputs.New(outputs.Options{Store: memstore.New(), Keyring: kr, Uploader: providers, Logger: log,
		AllowInsecureEndpoints: local})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: newHandler(svc, devAuth, log), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// devAuth is the example's stand-in authentication (see the package doc).
func devAuth(r *http.Request) (destination.Caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok:
		return destination.Caller{}, errUnauthenticated
	case tok == "key-unlinked":
		return destination.Caller{APIKeyOnly: true}, nil
	case strings.HasPrefix(tok, "dev-") && len(tok) > 4:
		ws := strings.TrimPrefix(tok, "dev-")
		return destination.Caller{WorkspaceID: ws, UserID: "user-" + ws}, nil
	}
	return destination.Caller{}, errUnauthenticated
}
