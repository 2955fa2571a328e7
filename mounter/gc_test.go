package mounter

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestLeanGC(t *testing.T) {
	t.Setenv("GOGC", "") // restored when the test ends
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	restore := leanGC()
	if got := debug.SetGCPercent(gcPercent); got != gcPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, gcPercent)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after restore: GC percent %d, want 100", got)
	}

	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	restore = leanGC()
	if got := debug.SetGCPercent(200); got != 200 {
		t.Errorf("GOGC=200 set by the operator: GC percent %d, want it left at 200", got)
	}
	restore()
}
