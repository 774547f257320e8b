package provider

import (
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
