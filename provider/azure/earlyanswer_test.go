package azure_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/emulator"
	"github.com/ilovevideoeditor/outputs/provider"
	"github.com/ilovevideoeditor/outputs/provider/azure"
)

// TestEarlyAnswerNoCrash: an endpoint that answers 403 or 307 before reading the request body
// made azblob free the buffer net/http was still sending (SIGSEGV, Azure/azure-sdk-for-go#21555).
// 100 deliveries (25 per answer and protocol: HTTP/1.1 and h2 over TLS) under -race must fail
// cleanly. Without releaseTransport this test dies with SIGSEGV within a few deliveries.
func TestEarlyAnswerNoCrash(t *testing.T) {
	answers := map[string]func(w http.ResponseWriter){
		"403": func(w http.ResponseWriter) {
			w.Header().Set("x-ms-error-code", "AuthenticationFailed")
			w.WriteHeader(http.StatusForbidden)
		},
		"307": func(w http.ResponseWriter) {
			w.Header().Set("Location", "https://elsewhere.invalid/")
			w.WriteHeader(http.StatusTemporaryRedirect)
		},
	}
	for name, answer := range answers {
		for _, h2 := range []bool{false, true} {
			proto := "http1"
			if h2 {
				proto = "h2"
			}
			t.Run(name+"/"+proto, func(t *testing.T) {
				srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					answer(w) // before reading a byte of the body
				}))
				srv.EnableHTTP2 = h2
				srv.StartTLS()
				defer srv.Close()
				pool := x509.NewCertPool()
				pool.AddCert(srv.Certificate())
				var u emulator.Unsealer
				in := u.Integration(destination.Azure, destination.Config{AzureAccountName: "devstoreaccount1",
					AzureAccountKey:    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
					AzureContainerName: "c", Endpoint: srv.URL})
				c := emulator.NewClient(t, &u, provider.Options{PartSize: blockSize, Concurrency: 2, RootCAs: pool,
					CleanupTimeout: 1}, nil, azure.NewDriver(azure.Options{}))
				const n, size = 25, blockSize + 1<<20 // 100 deliveries in all
				body := make([]byte, size)
				var wg sync.WaitGroup
				sem := make(chan struct{}, 4)
				for i := range n {
					wg.Add(1)
					sem <- struct{}{}
					go func() {
						defer wg.Done()
						defer func() { <-sem }()
						_, err := c.Upload(context.Background(), in, "early/answer.mp4", bytes.NewReader(body), destination.UploadOptions{Size: size})
						if i == 0 {
							t.Logf("upload 0: %v", err)
						}
						if destination.AsUploadError(err) == nil {
							t.Errorf("upload %d: %v, want an UploadError", i, err)
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}
