package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

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
//
// The whole document is checked to be well-formed JSON, but only "destinations" is decoded: the
// other values (a timeline of hundreds of clips) are scanned and skipped without being built.
func ParseVideoJSON(videoJSON []byte) (Request, error) {
	if req, ok := parseFast(videoJSON); ok {
		return req, nil
	}
	// Anything the fast path does not accept as it is (a syntax error, a problem in destinations,
	// a duplicate, very deep nesting) is parsed again by the checked path, which reports the
	// problems; the fast path only ever accepts what the checked path accepts, with the same result.
	return parseChecked(videoJSON)
}

// parseChecked is ParseVideoJSON through encoding/json's Decoder: slower, as it builds every
// value it meets, but it names every problem. It is the implementation ParseVideoJSON had before
// parseFast; FuzzParseVideoJSONDifferential checks that parseFast agrees with it wherever
// parseFast answers.
func parseChecked(videoJSON []byte) (Request, error) {
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

// fastMaxDepth bounds the nesting parseFast follows; a deeper document goes to parseChecked,
// whose encoding/json scanner applies its own limit.
const fastMaxDepth = 1000

// parseFast is ParseVideoJSON for a well-formed document whose destinations have no problem. It
// reads the document once with a strict JSON scanner that builds nothing but the destinations,
// and reports false (the caller then takes parseChecked) on anything else: a syntax error, a
// problem in destinations, a duplicate member, trailing data, or nesting deeper than
// fastMaxDepth. It accepts only what parseChecked accepts, with the same result.
func parseFast(videoJSON []byte) (Request, bool) {
	s := scanner{b: videoJSON}
	var req Request
	if !s.consume('{') {
		return Request{}, false
	}
	found := false
	if !s.consume('}') {
		for {
			key, esc, ok := s.key()
			if !ok {
				return Request{}, false
			}
			if isName(key, esc, "destinations") {
				if found || !s.destinations(&req) {
					return Request{}, false
				}
				found = true
			} else if !s.skip() {
				return Request{}, false
			}
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return Request{}, false
		}
	}
	if s.ws(); s.i != len(s.b) {
		return Request{}, false
	}
	return req, true
}

// destinations reads the value of "destinations" into req: null (req stays unspecified) or an
// array of entries without problems.
func (s *scanner) destinations(req *Request) bool {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '[':
		s.i++
	default:
		return false
	}
	req.Specified = true
	req.Destinations = make([]destination.Destination, 0, 4)
	if s.consume(']') {
		return true
	}
	for {
		var d destination.Destination
		if !s.entry(&d) {
			return false
		}
		req.Destinations = append(req.Destinations, d)
		if s.consume(',') {
			continue
		}
		return s.consume(']')
	}
}

// entry reads one destinations entry: an object whose integrationId, provider and pathPrefix,
// each at most once, are strings or null; other members are skipped.
func (s *scanner) entry(d *destination.Destination) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	var seen [3]bool
	for {
		key, esc, ok := s.key()
		if !ok {
			return false
		}
		var dst *string
		var n int
		switch {
		case isName(key, esc, "integrationId"):
			dst, n = &d.IntegrationID, 0
		case isName(key, esc, "provider"):
			dst, n = (*string)(&d.Provider), 1
		case isName(key, esc, "pathPrefix"):
			dst, n = &d.PathPrefix, 2
		}
		switch {
		case dst == nil:
			if !s.skip() {
				return false
			}
		case seen[n]:
			return false
		default:
			seen[n] = true
			switch s.peek() {
			case 'n':
				if !s.literal("null") {
					return false
				}
			case '"':
				q, esc, ok := s.str()
				if !ok || !unquote(q, esc, dst) {
					return false
				}
			default:
				return false
			}
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// isName reports whether the quoted JSON string q (esc: it holds a backslash) decodes to name.
func isName(q []byte, esc bool, name string) bool {
	if !esc {
		return string(q[1:len(q)-1]) == name
	}
	var k string
	return json.Unmarshal(q, &k) == nil && k == name
}

// unquote decodes the quoted JSON string q into dst exactly as json.Unmarshal does; the common
// case (no escape, valid UTF-8) without it.
func unquote(q []byte, esc bool, dst *string) bool {
	if raw := q[1 : len(q)-1]; !esc && utf8.Valid(raw) {
		*dst = string(raw)
		return true
	}
	return json.Unmarshal(q, dst) == nil
}

// scanner reads one JSON document held in memory, strictly by RFC 8259 as encoding/json does,
// allocating nothing. Its methods report false on input they do not accept.
type scanner struct {
	b     []byte
	i     int
	depth int
}

// ws skips whitespace.
func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	if s.ws(); s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// consume skips whitespace and then c, if c is next.
func (s *scanner) consume(c byte) bool {
	if s.peek() == c && s.i < len(s.b) {
		s.i++
		return true
	}
	return false
}

// key reads an object member's name and the colon after it.
func (s *scanner) key() (q []byte, esc, ok bool) {
	s.ws()
	if q, esc, ok = s.str(); !ok || !s.consume(':') {
		return nil, false, false
	}
	return q, esc, true
}

// strPlain marks the bytes a JSON string holds as they are: all but the quote, the backslash and
// control characters. (encoding/json accepts invalid UTF-8 in strings, replacing it on decoding.)
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string at s.i and returns it with its quotes; esc reports a backslash in it.
func (s *scanner) str() (q []byte, esc, ok bool) {
	b, start := s.b, s.i
	if start >= len(b) || b[start] != '"' {
		return nil, false, false
	}
	i := start + 1
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return nil, false, false
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return b[start:s.i], esc, true
		case '\\':
			esc = true
			if i+1 >= len(b) {
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		default: // a control character
			return nil, false, false
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits skips the digits at i and reports how many there were.
func (s *scanner) digits() int {
	n := s.i
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
	return s.i - n
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at s.i.
func (s *scanner) number() bool {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i >= len(s.b):
		return false
	case s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// literal reads lit (true, false or null) at s.i.
func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// skip reads one value without building it.
func (s *scanner) skip() bool {
	switch s.peek() {
	case '"':
		_, _, ok := s.str()
		return ok
	case '{':
		return s.skipComposite('}')
	case '[':
		return s.skipComposite(']')
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// skipComposite reads the object or array at s.i, which closes with end.
func (s *scanner) skipComposite(end byte) bool {
	s.i++
	if s.depth++; s.depth > fastMaxDepth {
		return false
	}
	if s.consume(end) {
		s.depth--
		return true
	}
	for {
		if end == '}' {
			if _, _, ok := s.key(); !ok {
				return false
			}
		}
		if !s.skip() {
			return false
		}
		if s.consume(',') {
			continue
		}
		if !s.consume(end) {
			return false
		}
		s.depth--
		return true
	}
}
