// Command outputs-keygen prints a new development keyset for the outputs library: a fresh
// AES256-GCM Tink keyset as cleartext JSON, which crypto.ReadInsecureCleartextKeyring reads.
//
// The keyset holds raw key material. It is for development and tests only: production keysets
// are encrypted under a key-encryption key (crypto.Keyring.WriteEncrypted).
//
// Usage:
//
//	outputs-keygen [-o file] [-force]
//
// With -o, the keyset is written to file with mode 0600; an existing file is kept unless -force
// is given. Without it, the keyset goes to standard output. A warning always goes to standard
// error.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ilovevideoeditor/outputs/crypto"
)

const warning = `WARNING: this is an INSECURE development keyset: its raw key material is in cleartext.
Use it only for development and tests. Never commit it, never use it in production:
production keysets are encrypted under a KMS key (crypto.Keyring.WriteEncrypted).
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "outputs-keygen:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("outputs-keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the keyset to this file (mode 0600) instead of standard output")
	force := fs.Bool("force", false, "overwrite the -o file if it exists")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: outputs-keygen [-o file] [-force]\n\nPrints a new cleartext development keyset (AES256-GCM).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	k, err := crypto.NewInsecureDevelopmentKeyring()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := k.WriteInsecureCleartext(&buf); err != nil {
		return err
	}
	buf.WriteByte('\n')
	fmt.Fprint(stderr, warning)
	if *out == "" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, flags, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (primary key %d)\n", *out, k.PrimaryKeyID())
	return nil
}
