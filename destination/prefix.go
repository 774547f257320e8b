package destination

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPrefixLen is the longest path prefix accepted, in bytes, after normalization. Object keys are
// limited to 1024 bytes by S3 and GCS; the prefix leaves room for the file name.
const MaxPrefixLen = 512

// NormalizePrefix validates a path prefix and returns it in canonical form: surrounding white space
// trimmed, and a trailing "/" added. The empty prefix stays empty. A prefix is rejected (with a
// *ValidationError for field "pathPrefix") when it starts with "/", contains a backslash, a control
// character or invalid UTF-8, has an empty, "." or ".." segment, or is longer than MaxPrefixLen.
func NormalizePrefix(prefix string) (string, error) {
	p := strings.TrimSpace(prefix)
	if p == "" {
		return "", nil
	}
	bad := func(code, msg string) (string, error) {
		return "", &ValidationError{Errors: []FieldError{{Field: "pathPrefix", Code: code, Message: msg}}}
	}
	if !utf8.ValidString(p) {
		return bad(CodeInvalid, "must be valid UTF-8")
	}
	if strings.HasPrefix(p, "/") {
		return bad(CodeInvalid, `must be relative: remove the leading "/"`)
	}
	if strings.ContainsRune(p, '\\') {
		return bad(CodeInvalid, `must not contain a backslash; separate folders with "/"`)
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return bad(CodeInvalid, "must not contain control characters")
		}
	}
	slashed := strings.HasSuffix(p, "/")
	for rest := strings.TrimSuffix(p, "/"); ; {
		seg, more, found := strings.Cut(rest, "/")
		switch seg {
		case "":
			return bad(CodeInvalid, `must not contain empty segments ("//")`)
		case ".", "..":
			return bad(CodeInvalid, `must not contain "." or ".." segments`)
		}
		if !found {
			break
		}
		rest = more
	}
	if !slashed {
		p += "/"
	}
	if len(p) > MaxPrefixLen {
		return bad(CodeTooLong, "must be at most 512 bytes")
	}
	return p, nil
}

// JoinPrefix nests a normalized prefix under a normalized base: "renders/" + "campaigns/x/" →
// "renders/campaigns/x/". Either may be empty.
func JoinPrefix(base, prefix string) string { return base + prefix }
