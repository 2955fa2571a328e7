package secrets

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePath(t *testing.T) {
	for _, ok := range []string{"a", "db-password", "a/b", "a.b", ".hidden", "a..b", strings.Repeat("x", MaxNameBytes)} {
		if err := ValidatePath(ok); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "/a", "a//b", "./a", "a/.", "..", "../a", "a/..", "..data", "a/..x", "x\x00y", "\xff",
		strings.Repeat("x", MaxNameBytes+1), strings.Repeat("a/", MaxPathBytes/2+1) + "a"} {
		err := ValidatePath(bad)
		if err == nil || !errors.Is(err, ErrInvalidPath) {
			t.Errorf("ValidatePath(%.40q) = %v, want an ErrInvalidPath", bad, err)
			continue
		}
		if len(err.Error()) > 200 {
			t.Errorf("ValidatePath(%.40q): error of %d bytes, want it bounded", bad, len(err.Error()))
		}
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("db\nuser"); got != `"db\nuser"` {
		t.Errorf("Quote escapes control characters: got %s", got)
	}
	long := strings.Repeat("é", 10<<20)
	got := Quote(long)
	if len(got) > MaxQuoted+40 || !strings.Contains(got, "(20971520 bytes)") {
		t.Errorf("Quote of a 20 MB name: %d bytes %.60q..., want it cut with its length", len(got), got)
	}
	if strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("Quote cut inside a rune: %q", got)
	}
}

func TestPrefixAndBound(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"aé", 2, "a"}, // é is 2 bytes: the cut steps back to its start
		{"aé", 3, "aé"},
		{"€", 2, ""}, // 3 bytes, nothing fits
		{"", 0, ""},
	} {
		if got := Prefix(c.s, c.n); got != c.want {
			t.Errorf("Prefix(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
	if got := Bound("short", 10); got != "short" {
		t.Errorf("Bound of a short text = %q, want it unchanged", got)
	}
	if got, want := Bound(strings.Repeat("é", 100), 11), strings.Repeat("é", 5)+"… (200 bytes)"; got != want {
		t.Errorf("Bound of 200 bytes cut at 11 = %q, want %q", got, want)
	}
}
