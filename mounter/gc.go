package mounter

import (
	"os"
	"runtime/debug"
)

// gcPercent is the garbage collector's GOGC in the mounter unless the
// operator sets GOGC. The mounter is a node daemon whose memory every node
// pays and whose CPU is spent in bursts (a node's pods starting together):
// at the default 100 a 500-volume burst peaks at 34.8 MiB RSS, with this
// setting at 32.9 MiB, and 21.8 -> 18.1 MiB a minute later
// (BenchmarkMounterRSS), for a serial publish of 4.8 and 4.2 ms, within the
// run-to-run spread.
const gcPercent = 50

// leanGC sets gcPercent unless GOGC is set, and returns the function that
// restores the previous setting.
func leanGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(gcPercent)
	return func() { debug.SetGCPercent(prev) }
}
