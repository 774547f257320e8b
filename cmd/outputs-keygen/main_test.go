package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs/crypto"
)

func TestStdout(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "INSECURE") {
		t.Errorf("no warning on stderr: %q", errOut.String())
	}
	if strings.Contains(errOut.String(), `"value"`) {
		t.Error("key material on stderr")
	}
	k, err := crypto.ReadInsecureCleartextKeyring(&out)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := k.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := crypto.KeyIDOf(ct); id != k.PrimaryKeyID() {
		t.Fatal("generated keyset does not seal with its primary")
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	var out, errOut bytes.Buffer
	if err := run([]string{"-o", path}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Error("keyset also printed to stdout")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	if _, err := crypto.ReadInsecureCleartextKeyring(bytes.NewReader(first)); err != nil {
		t.Fatal(err)
	}
	// An existing keyset is never overwritten by accident.
	if err := run([]string{"-o", path}, &out, &errOut); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second run: err = %v, want ErrExist", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, first) {
		t.Fatal("keyset file changed")
	}
	if err := run([]string{"-o", path, "-force"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); bytes.Equal(again, first) {
		t.Fatal("-force did not write a new keyset")
	}
}

func TestBadArgs(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"extra"}, {"-nope"}} {
		if err := run(args, &out, &errOut); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if out.Len() != 0 {
		t.Error("keyset printed despite bad arguments")
	}
}
