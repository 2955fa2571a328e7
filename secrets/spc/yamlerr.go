package spc

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// maxDetail bounds the text a message takes from a decoder's or a compiler's
// error: those may quote the input, which the tenant controls.
const maxDetail = 200

// yamlErr shapes a YAML decoding error for a message: its first line, without
// the converter's prefix, bounded and with control characters escaped.
func yamlErr(err error) string {
	return detail(strings.TrimPrefix(firstLine(err.Error()), "error converting YAML to JSON: "))
}

// detail bounds a library's error text for a message: at most maxDetail bytes
// (cut on a rune boundary), control characters escaped so it stays one line.
func detail(s string) string {
	cut := false
	if len(s) > maxDetail {
		s, cut = secrets.Prefix(s, maxDetail), true
	}
	if strings.ContainsFunc(s, isControl) || !utf8.ValidString(s) {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	if cut {
		s += "…"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// fieldKey renders a key of the user's mapping inside a field path: escaped
// as secrets.Quote escapes (control characters, invalid UTF-8) but without the
// quotes when it is short, so ordinary keys read as written; a long key is cut
// by Quote, quotes and length included.
func fieldKey(k string) string {
	q := secrets.Quote(k)
	if len(k) <= secrets.MaxQuoted {
		return q[1 : len(q)-1]
	}
	return q
}

// KindOf names the YAML kind of a decoded value (string, number, list, ...) for
// error messages.
func KindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, int64, int:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// shortRepr renders a scalar for a message (bounded: strings go through
// secrets.Quote).
func shortRepr(v any) string {
	switch t := v.(type) {
	case string:
		return secrets.Quote(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64) + " (a number)"
	case int64:
		return strconv.FormatInt(t, 10) + " (a number)"
	default:
		return "a " + KindOf(v)
	}
}
