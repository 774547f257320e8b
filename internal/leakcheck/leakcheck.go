// Package leakcheck tells tests whether a message quotes a secret taken from their input.
package leakcheck

import "strings"

// MinLen is the shortest secret value Quoted looks for: shorter ones match by chance.
const MinLen = 8

// Quoted returns the first of secrets (values of secret fields, at least MinLen bytes) that msg
// contains and that no value of others (the input's non-secret values, which msg may echo)
// contains too, or "" when msg quotes none.
func Quoted(msg string, secrets, others []string) string {
next:
	for _, s := range secrets {
		if len(s) < MinLen || !strings.Contains(msg, s) {
			continue
		}
		for _, o := range others {
			if strings.Contains(o, s) {
				continue next
			}
		}
		return s
	}
	return ""
}
