package jmespath

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// errTooBig stops a measuring jsonWriter once its limit is passed.
var errTooBig = errors.New("too big")

// jsonWriter writes a value as JSON exactly as encoding/json's Marshal does
// (object keys sorted, <, > and & escaped, invalid UTF-8 as U+FFFD), or only
// measures it (sb nil), stopping once past limit. Each value costs a step.
type jsonWriter struct {
	e     *evaluator
	sb    *strings.Builder
	n     int
	limit int
	// strict makes NaN and the infinities an error, as for Marshal; when
	// measuring a result they count as "null".
	strict bool
}

func (w *jsonWriter) write(s string) {
	w.n += len(s)
	if w.sb != nil {
		w.sb.WriteString(s)
	}
}

func (w *jsonWriter) value(v any, depth int) error {
	if err := w.e.step(1); err != nil {
		return err
	}
	if depth > maxDataDepth {
		return &LimitError{Limit: LimitDataDepth, Max: maxDataDepth}
	}
	if w.sb == nil && w.n > w.limit {
		return errTooBig
	}
	switch x := v.(type) {
	case nil:
		w.write("null")
	case bool:
		if x {
			w.write("true")
		} else {
			w.write("false")
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			if w.strict {
				return evalErrorf("function to_string(): NaN and infinities have no JSON form")
			}
			w.write("null")
			return nil
		}
		var buf [32]byte
		b := appendNumber(buf[:0], x)
		w.n += len(b)
		if w.sb != nil {
			w.sb.Write(b)
		}
	case string:
		return w.str(x)
	case []any:
		if x == nil {
			w.write("null")
			return nil
		}
		w.write("[")
		for i, el := range x {
			if i > 0 {
				w.write(",")
			}
			if err := w.value(el, depth+1); err != nil {
				return err
			}
		}
		w.write("]")
	case map[string]any:
		return w.object(x, depth)
	case expref:
		// An expression reference has no exported fields: Marshal writes {}.
		w.write("{}")
	default:
		return evalErrorf("unsupported value of kind %s in JMESPath data", reflect.TypeOf(v).Kind())
	}
	return nil
}

func (w *jsonWriter) object(m map[string]any, depth int) error {
	if m == nil {
		w.write("null")
		return nil
	}
	w.write("{")
	if w.sb == nil {
		// Measuring: the order does not change the length.
		first := true
		for k, el := range m {
			if !first {
				w.write(",")
			}
			first = false
			if err := w.str(k); err != nil {
				return err
			}
			w.write(":")
			if err := w.value(el, depth+1); err != nil {
				return err
			}
		}
		w.write("}")
		return nil
	}
	keys, err := w.e.sortedKeys(m)
	if err != nil {
		return err
	}
	for i, k := range keys {
		if i > 0 {
			w.write(",")
		}
		if err := w.str(k); err != nil {
			return err
		}
		w.write(":")
		if err := w.value(m[k], depth+1); err != nil {
			return err
		}
	}
	w.write("}")
	return nil
}

const hexDigits = "0123456789abcdef"

// safeASCII reports whether encoding/json writes b (< 0x80) as itself.
func safeASCII(b byte) bool {
	return b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
}

// str writes s quoted, with encoding/json's escapes.
func (w *jsonWriter) str(s string) error {
	if err := w.e.scan(len(s)); err != nil {
		return err
	}
	if w.sb == nil {
		w.n += quotedLen(s)
		return nil
	}
	sb := w.sb
	before := sb.Len()
	sb.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safeASCII(b) {
				i++
				continue
			}
			sb.WriteString(s[start:i])
			switch b {
			case '"', '\\':
				sb.WriteByte('\\')
				sb.WriteByte(b)
			case '\b':
				sb.WriteString(`\b`)
			case '\f':
				sb.WriteString(`\f`)
			case '\n':
				sb.WriteString(`\n`)
			case '\r':
				sb.WriteString(`\r`)
			case '\t':
				sb.WriteString(`\t`)
			default:
				sb.WriteString(`\u00`)
				sb.WriteByte(hexDigits[b>>4])
				sb.WriteByte(hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			sb.WriteString(s[start:i])
			sb.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			sb.WriteString(s[start:i])
			sb.WriteString(`\u202`)
			sb.WriteByte(hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	sb.WriteString(s[start:])
	sb.WriteByte('"')
	w.n += sb.Len() - before
	return nil
}

// quotedLen is the length of s as str writes it.
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			switch {
			case safeASCII(b):
				n++
			case b == '"' || b == '\\' || b == '\b' || b == '\f' || b == '\n' || b == '\r' || b == '\t':
				n += 2
			default:
				n += 6
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}

// appendNumber formats f as encoding/json does (the ECMAScript rule): the
// shortest digits that read back as f, in exponent form below 1e-6 and from
// 1e21, with a one-digit negative exponent written without its leading zero.
func appendNumber(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// toJSON is to_string of a value that is not a string: measured first
// against what is left of the budget, then written into one allocation of
// exactly that size.
func (e *evaluator) toJSON(v any) (any, error) {
	left := e.maxBytes - e.bytes - strBytes
	m := jsonWriter{e: e, limit: left, strict: true}
	if err := m.value(v, 0); err != nil {
		if errors.Is(err, errTooBig) {
			return nil, e.overBytes()
		}
		return nil, err
	}
	if err := e.alloc(strBytes + m.n); err != nil {
		return nil, err
	}
	var sb strings.Builder
	sb.Grow(m.n)
	w := jsonWriter{e: e, sb: &sb, strict: true}
	if err := w.value(v, 0); err != nil {
		return nil, err
	}
	return sb.String(), nil
}

// checkResult bounds the result's size as JSON (a string: its length) by
// Budget.Bytes, so whoever writes it out writes at most that much.
func (e *evaluator) checkResult(v any) error {
	switch x := v.(type) {
	case nil, bool, float64, expref:
		return nil
	case string:
		if len(x) > e.maxBytes {
			return &LimitError{Limit: LimitResultBytes, Max: e.maxBytes}
		}
		return nil
	}
	m := jsonWriter{e: e, limit: e.maxBytes}
	err := m.value(v, 0)
	if errors.Is(err, errTooBig) || (err == nil && m.n > e.maxBytes) {
		return &LimitError{Limit: LimitResultBytes, Max: e.maxBytes}
	}
	return err
}
