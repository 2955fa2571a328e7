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
	cut := MaxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
