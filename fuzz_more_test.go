package outputs_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
	"github.com/ilovevideoeditor/outputs/internal/leakcheck"
)

// secretKeys are the JSON names of the secret configuration fields (compared case-insensitively,
// as encoding/json matches them).
var secretKeys = map[string]bool{}

func init() {
	for _, f := range destination.AllSecretFields() {
		secretKeys[strings.ToLower(string(f))] = true
	}
}

// collect walks a decoded JSON value: secrets gets the string values of secret-named keys (at any
// depth), others every other key and string value.
func collect(v any, secretKey bool, secrets, others *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			*others = append(*others, k)
			collect(e, secretKeys[strings.ToLower(k)], secrets, others)
		}
	case []any:
		for _, e := range v {
			collect(e, false, secrets, others)
		}
	case string:
		if secretKey {
			*secrets = append(*secrets, v)
		} else {
			*others = append(*others, v)
		}
	}
}

// checkDecodeErr: a decoder's error is a *destination.ValidationError (errors.As) that is
// destination.ErrInvalid (errors.Is), and it quotes no secret value of at least 8 bytes found in
// data (unless that value also appears in a non-secret key or value, which the error may name).
func checkDecodeErr(t *testing.T, what string, data []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ve *destination.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%s: error %T %v is not a *destination.ValidationError", what, err, err)
	}
	if !errors.Is(err, destination.ErrInvalid) {
		t.Fatalf("%s: error %v does not match destination.ErrInvalid", what, err)
	}
	if destination.Kind(err) != destination.ErrInvalid {
		t.Fatalf("%s: error %v is of kind %v, want ErrInvalid", what, err, destination.Kind(err))
	}
	var doc any
	if json.Unmarshal(data, &doc) != nil {
		// Not one JSON value: look for secrets in its first value (trailing data is an error).
		dec := json.NewDecoder(strings.NewReader(string(data)))
		if dec.Decode(&doc) != nil {
			return
		}
	}
	var secrets, others []string
	collect(doc, false, &secrets, &others)
	if q := leakcheck.Quoted(err.Error(), secrets, others); q != "" {
		t.Fatalf("%s: error %q quotes the secret value %q", what, err, q)
	}
}

// FuzzDecodeInputs: DecodeCreateInput and DecodeUpdateInput never panic on arbitrary bytes, and
// their errors are *destination.ValidationError (ErrInvalid) quoting no secret value.
func FuzzDecodeInputs(f *testing.F) {
	for _, s := range []string{
		`{"provider":"r2","name":"Renders","isDefault":true,"config":{"bucket":"b","accessKeyId":"AKIAEXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","endpoint":"https://acct.r2.cloudflarestorage.com"}}`,
		`{"provider":"azure","name":"x","config":{"azureAccountName":"acct","azureAccountKey":"c2VjcmV0c2VjcmV0c2VjcmV0","azureContainerName":"c"}}`,
		`{"provider":"gcs","name":"g","config":{"bucket":"b","gcsServiceAccountJson":"{\"type\":\"service_account\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\"}"}}`,
		`{"version":3,"name":"renamed","isActive":false,"config":{"secretAccessKey":"newsecretvalue123"}}`,
		`{"provider":"wJalrXUtnFEMI","config":{"secretAccessKey":5}}`,
		`{"provider":"r2","config":{"secretAccessKey":"supersecret1","bucket":false}}`,
		`{"config":{"SecretAccessKey":"supersecret1","unknownKey":"v"}}`,
		`{"version":123456789012345678901234567890,"config":{"azureSasToken":"sv=2022&sig=abcdefgh"}}`,
		`{"name":"a"} {"secretAccessKey":"trailingsecret"}`,
		`{"config":{"secretAccessKey":"unterminated`,
		`[]`, `null`, `""`, `{"config":null}`, `{"isActive":"yes"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8192 {
			return
		}
		_, err := outputs.DecodeCreateInput(data)
		checkDecodeErr(t, "DecodeCreateInput", data, err)
		_, err = outputs.DecodeUpdateInput(data)
		checkDecodeErr(t, "DecodeUpdateInput", data, err)
	})
}

// FuzzDecodeInputSecretNotEchoed builds bodies around a fuzzed secret value (valid JSON strings,
// or raw text in its place) with a fuzzed fragment after it that may break the body, and checks
// that no error of DecodeCreateInput or DecodeUpdateInput quotes the secret: an error may contain
// the value only when the same body with the secret emptied gives an error containing it too
// (the value then comes from elsewhere, e.g. an echoed provider name).
func FuzzDecodeInputSecretNotEchoed(f *testing.F) {
	f.Add("r2", "Renders", uint8(0), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", false, `,"bucket":"b"`)
	f.Add("s3", "n", uint8(1), `{"type":"service_account","private_key":"k"}`, false, `,"bucket":5`)
	f.Add("nope", "n", uint8(2), "c2VjcmV0c2VjcmV0c2VjcmV0", false, `,"extra":true`)
	f.Add("azure", "", uint8(3), "sv=2022-11-02&sig=abcdefgh%3D", false, `}, "isActive": "no"`)
	f.Add("r2", "x", uint8(0), "12345678901234567890", true, ``)
	f.Add("r2", "x", uint8(0), `"supersecret"garbage`, true, `]`)
	f.Add("gcs", "x", uint8(4), "refreshtoken-1234", false, `} } {"secretAccessKey":"x"`)
	f.Fuzz(func(t *testing.T, provider, name string, which uint8, secret string, raw bool, extra string) {
		if len(secret) > 1024 || len(extra) > 1024 || len(provider)+len(name) > 1024 {
			return
		}
		fields := destination.AllSecretFields()
		field := string(fields[int(which)%len(fields)])
		build := func(value string) []byte {
			p, _ := json.Marshal(provider)
			n, _ := json.Marshal(name)
			v := value
			if !raw {
				b, _ := json.Marshal(value)
				v = string(b)
			}
			return []byte(`{"provider":` + string(p) + `,"name":` + string(n) + `,"config":{"` + field + `":` + v + extra + `}}`)
		}
		for _, dec := range []struct {
			name string
			fn   func([]byte) error
		}{
			{"DecodeCreateInput", func(b []byte) error { _, err := outputs.DecodeCreateInput(b); return err }},
			{"DecodeUpdateInput", func(b []byte) error { _, err := outputs.DecodeUpdateInput(b); return err }},
		} {
			body := build(secret)
			err := dec.fn(body)
			checkDecodeErr(t, dec.name, body, err)
			if err == nil || len(secret) < 8 || !strings.Contains(err.Error(), secret) {
				continue
			}
			empty := `""`
			if !raw {
				empty = ""
			}
			if base := dec.fn(build(empty)); base != nil && strings.Contains(base.Error(), secret) {
				continue
			}
			if strings.Contains(extra, secret) || strings.Contains(field, secret) {
				continue // the fragment after the secret may repeat it where the error may quote it
			}
			t.Fatalf("%s(%q): error %q quotes the secret %q", dec.name, body, err, secret)
		}
	})
}
