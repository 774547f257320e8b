package provider

import "crypto/tls"

// tlsClientConfig is the shared transport's TLS configuration: Go's defaults (TLS 1.2 or later,
// the system's roots), with Options.RootCAs as the roots when set. Nil means the defaults.
func tlsClientConfig(opts *Options) *tls.Config {
	if opts.RootCAs == nil {
		return nil
	}
	return &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
}
