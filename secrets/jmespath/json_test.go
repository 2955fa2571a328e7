package jmespath

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// toStringOf runs our to_string on v.
func toStringOf(t testing.TB, v any) string {
	t.Helper()
	e := evaluator{maxSteps: DefaultSteps, maxBytes: 64 << 20}
	s, err := e.toJSON(v)
	if err != nil {
		t.Fatalf("to_string(%#v): %v", v, err)
	}
	// The measuring pass and the written string agree.
	m := jsonWriter{e: &e, limit: 1 << 30}
	if err := m.value(v, 0); err != nil || m.n != len(s.(string)) {
		t.Fatalf("measured %d (%v), wrote %d", m.n, err, len(s.(string)))
	}
	return s.(string)
}

func marshal(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestToStringMatchesMarshal: to_string writes what encoding/json writes
// (and so what go-jmespath's to_string writes) for every byte, the runes
// encoding/json escapes, invalid UTF-8, and numbers across the range.
func TestToStringMatchesMarshal(t *testing.T) {
	var values []any
	for b := range 256 {
		values = append(values, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	values = append(values, "\u2028\u2029", "é\xff\xfe", "\xe2\x80", "\xed\xa0\x80", "\U0001F600", "<script>&</script>", "",
		[]any{"\x00", map[string]any{"<k>": "\x7f", "": nil, "b": true, "a": false}}, map[string]any{},
		[]any{}, nil, true)
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789012345678901234.0,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 5432, 1.5e300, -2.5e-300, 100, 1e-10} {
		values = append(values, f)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		values = append(values, math.Float64frombits(r.Uint64()))
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		values = append(values, string(b))
	}
	for _, v := range values {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			continue
		}
		wrap := []any{v} // to_string of a string returns it as is
		if got, want := toStringOf(t, wrap), marshal(t, wrap); got != want {
			t.Fatalf("to_string(%q) = %s, encoding/json %s", v, got, want)
		}
	}
}

// FuzzToString: to_string of a string and a number inside a list, against
// encoding/json.
func FuzzToString(f *testing.F) {
	f.Add("a\u2028<\x00\xff", 1.5)
	f.Fuzz(func(t *testing.T, s string, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		v := []any{s, x, map[string]any{s: x}}
		if got, want := toStringOf(t, v), marshal(t, v); got != want {
			t.Fatalf("to_string = %s, encoding/json %s", got, want)
		}
	})
}
