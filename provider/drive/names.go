package drive

import (
	"strings"
	"unicode/utf8"
)

// Blob keys are split on "/" into a chain of folders and a file name. Each segment becomes a
// Drive name through escapeName, which is reversible and keeps ordinary names readable:
//
//   - '%', control characters (U+0000–U+001F, U+007F) and a leading or trailing space become %XX;
//   - "." and ".." become "%2E" and "%2E%2E";
//   - the empty segment (from "a//b" or a trailing "/") becomes a lone "%".
//
// A name found in Drive that is not a valid escape (a file a user made, say "100%") is read
// literally.

// escapeName returns the Drive name for one key segment.
func escapeName(seg string) string {
	switch seg {
	case "":
		return "%"
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	var b strings.Builder
	last := len(seg) - 1
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c == '%' || c < 0x20 || c == 0x7f || (c == ' ' && (i == 0 || i == last)) {
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// unescapeName reverses escapeName. A name that is not a valid escape is returned as is.
func unescapeName(name string) string {
	if name == "%" {
		return ""
	}
	if !strings.Contains(name, "%") {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(name) {
			return name
		}
		hi, ok1 := unhex(name[i+1])
		lo, ok2 := unhex(name[i+2])
		if !ok1 || !ok2 {
			return name
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	out := b.String()
	if !utf8.ValidString(out) || escapeName(out) != name {
		return name // not something escapeName produced
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// splitKey splits a key into its folder part ("" or ending in "/") and its last segment.
func splitKey(key string) (dir, name string) {
	i := strings.LastIndexByte(key, '/')
	return key[:i+1], key[i+1:]
}

// qEscape quotes s for a Drive query string literal.
func qEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}
