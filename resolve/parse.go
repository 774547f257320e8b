package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/ilovevideoeditor/outputs/destination"
)

// maxParseProblems caps the problems ParseVideoJSON lists, so a huge malformed array cannot make
// a huge error.
const maxParseProblems = 50

// ParseVideoJSON reads the "destinations" member of a render's videoJSON, a JSON object whose
// other members (name, layers, ...) are not this package's business and are ignored.
//
// The returned Request is Specified when "destinations" is present; a null "destinations" counts
// as omitted (Specified false), like an absent one, so clients that serialize unset fields as
// null get the workspace default. Member names match exactly ("Destinations" is some other,
// ignored member). Within each entry, integrationId, provider and pathPrefix must be strings
// (null counts as absent) and unknown fields are ignored. Only the shape is checked here; the
// values (a known provider, a valid prefix, an existing integration) are Resolver.Resolve's
// business.
//
// Problems are reported together as a *destination.ValidationError with positioned fields
// ("destinations[2].provider"): malformed JSON or a videoJSON that is not an object (field
// "videoJSON"), "destinations" not an array, an entry not an object, a field of the wrong type,
// and a member repeated within one object (code destination.CodeDuplicate: parsers disagree on
// which copy wins, so neither is taken). Messages never quote the input, and at most 50
// problems are listed.
func ParseVideoJSON(videoJSON []byte) (Request, error) {
	var p parser
	var raw json.RawMessage
	found := false
	err := members(videoJSON, func(key string, val json.RawMessage) {
		if key != "destinations" {
			return
		}
		if found {
			p.add("destinations", destination.CodeDuplicate, "appears more than once in videoJSON")
		}
		found = true
		raw = append(raw[:0], val...)
	})
	if err != nil {
		return Request{}, &destination.ValidationError{Errors: []destination.FieldError{{
			Field: "videoJSON", Code: destination.CodeInvalid, Message: err.Error()}}}
	}
	if !found || jsonKind(raw) == "null" {
		return Request{}, p.probs.Err()
	}
	req := Request{Specified: true}
	if jsonKind(raw) != "array" {
		p.add("destinations", destination.CodeInvalid, "must be an array, not "+withArticle(jsonKind(raw)))
		return Request{}, p.probs.Err()
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		// raw was validated by members; this cannot happen, but never panic on it.
		p.add("destinations", destination.CodeInvalid, "must be an array")
		return Request{}, p.probs.Err()
	}
	req.Destinations = make([]destination.Destination, len(entries))
	for i, e := range entries {
		p.entry("destinations["+strconv.Itoa(i)+"]", e, &req.Destinations[i])
	}
	if err := p.probs.Err(); err != nil {
		return Request{}, err
	}
	return req, nil
}

// parser collects at most maxParseProblems problems.
type parser struct {
	probs     destination.Problems
	truncated bool
}

func (p *parser) add(field, code, msg string) {
	switch {
	case p.probs.Len() < maxParseProblems:
		p.probs.Add(field, code, msg)
	case !p.truncated:
		p.truncated = true
		p.probs.Add("destinations", destination.CodeInvalid,
			fmt.Sprintf("has more problems; only the first %d are listed", maxParseProblems))
	}
}

// entry decodes one element of the destinations array into d.
func (p *parser) entry(pos string, data json.RawMessage, d *destination.Destination) {
	if k := jsonKind(data); k != "object" {
		p.add(pos, destination.CodeInvalid, "must be an object, not "+withArticle(k))
		return
	}
	var provider string
	var seen [3]bool
	_ = members(data, func(key string, val json.RawMessage) {
		var dst *string
		var n int
		switch key {
		case "integrationId":
			dst, n = &d.IntegrationID, 0
		case "provider":
			dst, n = &provider, 1
		case "pathPrefix":
			dst, n = &d.PathPrefix, 2
		default:
			return
		}
		if seen[n] {
			p.add(pos+"."+key, destination.CodeDuplicate, "appears more than once in this entry")
			return
		}
		seen[n] = true
		switch jsonKind(val) {
		case "null":
		case "string":
			if json.Unmarshal(val, dst) != nil {
				p.add(pos+"."+key, destination.CodeInvalid, "must be a string")
			}
		default:
			p.add(pos+"."+key, destination.CodeInvalid, "must be a string, not "+withArticle(jsonKind(val)))
		}
	})
	d.Provider = destination.Provider(provider)
}

// members calls fn with each member of the JSON object in data, in order, and checks that data
// is exactly one well-formed JSON object. Its errors are client-safe: they never quote data.
func members(data []byte, fn func(key string, val json.RawMessage)) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("must be a JSON object")
	}
	var val json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return errors.New("malformed JSON: object key is not a string")
		}
		if err := dec.Decode(&val); err != nil {
			return syntaxError(err)
		}
		fn(key, val)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return syntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: unexpected data after the object")
	}
	return nil
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON at byte %d", se.Offset)
	}
	return errors.New("malformed JSON: truncated or empty")
}

// jsonKind names the kind of a well-formed JSON value by its first byte.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func withArticle(kind string) string {
	switch kind {
	case "object", "array":
		return "an " + kind
	case "null", "nothing":
		return kind
	}
	return "a " + kind
}
