package secrets

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
)

// Redacted is what a Value prints as, in logs, errors and JSON.
const Redacted = "<redacted>"

// Value is secret material. Every way of printing it (String, Format, JSON,
// slog) yields "<redacted>"; only Bytes returns the content.
type Value struct {
	b []byte
}

// NewValue wraps b; the caller must not modify b afterwards.
func NewValue(b []byte) Value { return Value{b: b} }

// NewStringValue wraps s.
func NewStringValue(s string) Value { return Value{b: []byte(s)} }

// Bytes returns the secret content. Never log it.
func (v Value) Bytes() []byte { return v.b }

// Len is the content's length in bytes; safe to log.
func (v Value) Len() int { return len(v.b) }

// Equal reports whether v and o hold the same bytes.
func (v Value) Equal(o Value) bool { return bytes.Equal(v.b, o.b) }

// String implements fmt.Stringer.
func (Value) String() string { return Redacted }

// GoString implements fmt.GoStringer, so %#v does not leak either.
func (Value) GoString() string { return Redacted }

// Format implements fmt.Formatter: every verb prints "<redacted>".
func (Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON implements json.Marshaler.
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (YAML, slog text).
func (Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer.
func (Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// File is one file of a set to write: a relative path, its mode and content.
type File struct {
	// Path is relative to the target directory, validated by secrets.ValidatePath.
	Path string
	// Mode holds the permission bits (e.g. 0644).
	Mode fs.FileMode
	// Content is the secret bytes.
	Content Value
}
