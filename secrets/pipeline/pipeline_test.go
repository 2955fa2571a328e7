package pipeline

import "testing"

func TestOneLine(t *testing.T) {
	if got := OneLine("a\n  b\r\n\nc"); got != "a b c" {
		t.Errorf("got %q", got)
	}
}
