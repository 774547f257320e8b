package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/ilovevideoeditor/outputs"
	"github.com/ilovevideoeditor/outputs/destination"
)

// shape says which keys a JSON object may have, spelled exactly (encoding/json matches keys
// case-insensitively; the API does not). A nil *shape accepts any value.
type shape struct {
	keys  map[string]*shape // allowed keys and their values' shapes (nil when keys is open)
	open  bool              // any key is allowed (videoJSON): only near-misses of keys are refused
	items *shape            // the shape of an array's elements
}

// shapeOf lists the JSON names of a struct's fields; nested lists the fields whose values have
// a shape of their own.
func shapeOf(v any, nested map[string]*shape) *shape {
	t := reflect.TypeOf(v)
	s := &shape{keys: map[string]*shape{}}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			s.keys[name] = nested[name]
		}
	}
	return s
}

var (
	configShape = shapeOf(destination.Config{}, nil)
	createShape = shapeOf(outputs.CreateInput{}, map[string]*shape{"config": configShape})
	updateShape = shapeOf(outputs.UpdateInput{}, map[string]*shape{"config": configShape})
	// renderShape: a videoJSON is open, but each destinations entry has exactly the documented keys.
	renderShape = &shape{open: true, keys: map[string]*shape{
		"destinations": {items: shapeOf(destination.Destination{}, nil)},
	}}
)

// checkKeys reports every key of data that its shape does not allow (unknown, misspelled or in
// another case) and every duplicate key, with the field's path ("destinations[0].path_prefix").
// Malformed JSON and wrong types are left to the decoder that follows.
func checkKeys(data []byte, s *shape) error {
	var p destination.Problems
	walk(&p, "", data, s)
	return p.Err()
}

func walk(p *destination.Problems, path string, data []byte, s *shape) {
	if s == nil || p.Len() >= 50 {
		return
	}
	switch kind(data) {
	case '[':
		if s.items == nil {
			return
		}
		var items []json.RawMessage
		if json.Unmarshal(data, &items) != nil {
			return
		}
		for i, it := range items {
			walk(p, path+"["+strconv.Itoa(i)+"]", it, s.items)
		}
	case '{':
		if s.keys == nil {
			return
		}
		seen := map[string]bool{}
		_ = members(data, func(key string, val json.RawMessage) {
			field := joinPath(path, key)
			sub, ok := s.keys[key]
			switch {
			case seen[key]:
				p.Add(field, destination.CodeDuplicate, "appears more than once")
			case ok:
				walk(p, field, val, sub)
			case !s.open:
				p.Add(field, destination.CodeNotAllowed, unknownMessage(key, s))
			case nearMiss(key, s) != "":
				p.Add(field, destination.CodeNotAllowed, unknownMessage(key, s))
			}
			seen[key] = true
		})
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func unknownMessage(key string, s *shape) string {
	if m := nearMiss(key, s); m != "" {
		return "unknown field; did you mean \"" + m + "\"? (keys are case-sensitive)"
	}
	return "unknown field"
}

// nearMiss returns the allowed key that key spells another way (case, _ or -), or "".
func nearMiss(key string, s *shape) string {
	norm := func(k string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(k)) }
	for k := range s.keys {
		if k != key && norm(k) == norm(key) {
			return k
		}
	}
	return ""
}

// members calls fn with each key and raw value of the JSON object data, in order.
func members(data []byte, fn func(key string, val json.RawMessage)) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return err
		}
		fn(key, val)
	}
	return nil
}

func kind(data []byte) byte {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return 0
	}
	return data[0]
}

// decodeBody checks data's keys against s, turns a service-account key sent as a JSON object
// into the string the library takes, and returns the normalized body.
func decodeBody(data []byte, s *shape) ([]byte, error) {
	if err := checkKeys(data, s); err != nil {
		return nil, err
	}
	if kind(data) != '{' {
		return data, nil
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || kind(top["config"]) != '{' {
		return data, nil // the strict decoder reports it
	}
	cfg, changed, err := normalizeConfig(top["config"])
	if err != nil || !changed {
		return data, err
	}
	top["config"] = cfg
	return json.Marshal(top)
}

// normalizeConfig turns config.gcsServiceAccountJson given as an object into its compact string.
func normalizeConfig(data json.RawMessage) (json.RawMessage, bool, error) {
	var cfg map[string]json.RawMessage
	if json.Unmarshal(data, &cfg) != nil {
		return data, false, nil
	}
	key, ok := cfg["gcsServiceAccountJson"]
	if !ok || kind(key) != '{' {
		return data, false, nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, key); err != nil {
		return nil, false, &destination.ValidationError{Errors: []destination.FieldError{{
			Field: "config.gcsServiceAccountJson", Code: destination.CodeInvalid, Message: "is not valid JSON"}}}
	}
	s, _ := json.Marshal(compact.String())
	cfg["gcsServiceAccountJson"] = s
	out, err := json.Marshal(cfg)
	return out, true, err
}

// mergePatch applies a JSON merge patch (RFC 7396) of the configuration to target: members of
// patch replace those of target and null removes them. A configuration's values are strings
// and booleans (gcsServiceAccountJson is a whole key, replaced, never merged field by field),
// so the merge stops at that level: an object member replaces the target's as it is, and
// validation then refuses what is not a configuration value. Merging deeper would re-parse the
// rest of the patch at every level of nesting, quadratic in a deep patch's size.
func mergePatch(target, patch json.RawMessage) (json.RawMessage, error) {
	if kind(patch) != '{' {
		return patch, nil
	}
	doc := map[string]json.RawMessage{}
	if kind(target) == '{' {
		if err := json.Unmarshal(target, &doc); err != nil {
			return nil, err
		}
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	for k, v := range p {
		if kind(v) == 'n' {
			delete(doc, k)
			continue
		}
		doc[k] = v
	}
	return json.Marshal(doc)
}

// errTrailing reports data after the JSON value (decoders stop at the first value).
var errTrailing = errors.New("unexpected data after the JSON value")

// oneValue checks that data is exactly one JSON value.
func oneValue(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return &destination.ValidationError{Errors: []destination.FieldError{{Code: destination.CodeInvalid, Message: "malformed JSON body"}}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &destination.ValidationError{Errors: []destination.FieldError{{Code: destination.CodeInvalid, Message: errTrailing.Error()}}}
	}
	return nil
}
