package provider

import (
	"fmt"
	"net/url"
	"strings"
)

// JoinURL returns base + "/" + key with every path segment of key escaped, the URL of an object
// under a public base URL such as https://cdn.example.com or https://bucket.s3.amazonaws.com.
func JoinURL(base, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.TrimRight(base, "/") + "/" + strings.Join(segs, "/")
}

// HexEscapeKey rewrites every rune of key for which escape reports true as "__0x<hex>__", the
// way the Go CDK drivers store keys their provider cannot hold. Drivers implement KeyMapper
// with it and their provider's rule. Keys containing "__0x" are refused by uploads, so the
// CDK's extra escaping of such text never applies.
func HexEscapeKey(key string, escape func(r []rune, i int) bool) string {
	runes := []rune(key)
	var b strings.Builder
	for i, r := range runes {
		if escape(runes, i) {
			fmt.Fprintf(&b, "__%#x__", r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// DotDotSlash reports whether runes[i] is the "/" of a "../", which every Go CDK driver escapes.
func DotDotSlash(r []rune, i int) bool { return i > 1 && r[i] == '/' && r[i-1] == '.' && r[i-2] == '.' }
