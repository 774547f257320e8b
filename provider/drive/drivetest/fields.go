package drivetest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// fieldMask is a parsed partial-response selector (the "fields" parameter): a set of names, each
// with a sub-selection (nil selects the whole value). The name "*" selects everything.
type fieldMask map[string]fieldMask

// parseFields parses selectors such as "id,name", "files(id,name),nextPageToken", "files/id" or "*".
func parseFields(s string) (fieldMask, error) {
	m := fieldMask{}
	rest, err := parseFieldList(s, m)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("invalid field selection: unexpected %q", truncate(rest, 20))
	}
	return m, nil
}

func parseFieldList(s string, into fieldMask) (string, error) {
	for {
		var err error
		if s, err = parseFieldElem(s, into); err != nil {
			return "", err
		}
		if !strings.HasPrefix(s, ",") {
			return s, nil
		}
		s = s[1:]
	}
}

// parseFieldElem parses one element: a name, optionally followed by "(list)" or "/element".
func parseFieldElem(s string, into fieldMask) (string, error) {
	i := strings.IndexAny(s, ",()/")
	if i < 0 {
		i = len(s)
	}
	name := strings.TrimSpace(s[:i])
	if name == "" {
		return "", fmt.Errorf("invalid field selection: empty field name")
	}
	s = s[i:]
	if !strings.HasPrefix(s, "(") && !strings.HasPrefix(s, "/") {
		into[name] = nil // the whole value
		return s, nil
	}
	sub, seen := into[name]
	if seen && sub == nil {
		sub = fieldMask{"*": nil}
	} else if sub == nil {
		sub = fieldMask{}
	}
	var err error
	if s[0] == '(' {
		if s, err = parseFieldList(s[1:], sub); err != nil {
			return "", err
		}
		if !strings.HasPrefix(s, ")") {
			return "", fmt.Errorf("invalid field selection: missing ')'")
		}
		s = s[1:]
	} else if s, err = parseFieldElem(s[1:], sub); err != nil {
		return "", err
	}
	into[name] = sub
	return s, nil
}

// apply returns v (a JSON value decoded into any) restricted to the mask.
func (m fieldMask) apply(v any) any {
	if m == nil {
		return v
	}
	if _, ok := m["*"]; ok {
		return v
	}
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for name, sub := range m {
			if x, ok := t[name]; ok {
				out[name] = sub.apply(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = m.apply(x)
		}
		return out
	}
	return v
}

// filterJSON marshals v and keeps only the selected fields.
func filterJSON(v any, m fieldMask) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || m == nil {
		return b, err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	return json.Marshal(m.apply(generic))
}
