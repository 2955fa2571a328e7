package secrets

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxQuoted is the most bytes of a name Quote shows.
const MaxQuoted = 96

// Quote renders a name taken from user input (an object name, a file name, a
// key) for a message, a log line or a listing: Go-quoted, so control
// characters and invalid UTF-8 are escaped and a name can never forge a line,
// and cut after MaxQuoted bytes with the full length said, so a huge input
// never makes a huge error. Use it for every user-supplied name an error
// prints; never for a secret value (those are never printed at all).
func Quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(Prefix(s, MaxQuoted)), len(s))
}

// Bound renders library text that may be long (an error's cause) for a
// message: s itself when it is at most max bytes, else its Prefix of max bytes
// and the full length said. It does not escape: quote a name with Quote.
func Bound(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", Prefix(s, max), len(s))
}

// Prefix returns the longest prefix of s of at most n bytes that does not end
// inside a UTF-8 sequence (s itself when it is at most n bytes).
func Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
