package drive

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Drive has no fields for blob metadata or for Cache-Control and the other HTTP attributes, so
// the driver keeps them as JSON split over numbered appProperties ("bm00", "bm01", ...): each
// property is limited to 124 bytes of key and value, and an app may set 30 per file.
const (
	attrPropPrefix = "bm"
	attrPropValue  = 120 // bytes per property value ("bmNN" is 4 bytes)
	attrPropMax    = 28  // properties used at most (leaves 2 for other uses)
)

// storedAttrs is what the driver keeps in appProperties.
type storedAttrs struct {
	Metadata           map[string]string `json:"m,omitempty"`
	CacheControl       string            `json:"cc,omitempty"`
	ContentDisposition string            `json:"cd,omitempty"`
	ContentEncoding    string            `json:"ce,omitempty"`
	ContentLanguage    string            `json:"cl,omitempty"`
}

func attrPropKey(i int) string { return fmt.Sprintf("%s%02d", attrPropPrefix, i) }

// encodeAttrs returns the appProperties holding a (none when a is empty).
func encodeAttrs(a storedAttrs) (map[string]string, error) {
	if len(a.Metadata) == 0 && a.CacheControl == "" && a.ContentDisposition == "" && a.ContentEncoding == "" && a.ContentLanguage == "" {
		return nil, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	s := string(b)
	props := map[string]string{}
	for i := 0; s != ""; i++ {
		if i >= attrPropMax {
			return nil, fmt.Errorf("%w: %d bytes of JSON, at most about %d fit", ErrMetadataTooLarge, len(b), attrPropMax*attrPropValue)
		}
		n := min(len(s), attrPropValue)
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		props[attrPropKey(i)] = s[:n]
		s = s[n:]
	}
	return props, nil
}

// decodeAttrs reads the attributes back from a file's appProperties. Malformed data (a file
// someone else edited) reads as no attributes.
func decodeAttrs(props map[string]string) storedAttrs {
	var sb strings.Builder
	for i := 0; i < attrPropMax; i++ {
		v, ok := props[attrPropKey(i)]
		if !ok {
			break
		}
		sb.WriteString(v)
	}
	var a storedAttrs
	if sb.Len() > 0 {
		if err := json.Unmarshal([]byte(sb.String()), &a); err != nil {
			return storedAttrs{}
		}
	}
	return a
}
