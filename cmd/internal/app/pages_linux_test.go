package app

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile is this process's RssFile in bytes.
func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestShedExecutablePagesGivesThemBack(t *testing.T) {
	before := rssFile(t)
	shed := shedExecutablePages()
	after := rssFile(t)
	t.Logf("RssFile %d KiB -> %d KiB, %d KiB given back", before>>10, after>>10, shed>>10)
	if shed <= 0 || after >= before {
		t.Fatalf("gave back %d bytes, RssFile %d -> %d: want pages given back and RssFile lower", shed, before, after)
	}
	// Still runs: the code comes back from the page cache.
	if got := strings.Repeat("x", 3); got != "xxx" {
		t.Fatal(got)
	}
}

func TestParseSmaps(t *testing.T) {
	in := `00400000-00a00000 r-xp 00000000 08:01 123 /bin/asi mounter
Size:               6144 kB
Rss:                4096 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
00a00000-00b00000 rw-p 00600000 08:01 123 /bin/asi mounter
Rss:                 512 kB
Private_Dirty:       256 kB
Anonymous:           256 kB
7ffd0000-7ffe0000 rw-p 00000000 00:00 0                          [stack]
Rss:                  64 kB
`
	ms := parseSmaps([]byte(in))
	if len(ms) != 3 {
		t.Fatalf("%d mappings, want 3: %+v", len(ms), ms)
	}
	if m := ms[0]; m.start != 0x400000 || m.end != 0xa00000 || m.perms != "r-xp" || m.path != "/bin/asi mounter" || m.rss != 4096<<10 || m.anonymous != 0 {
		t.Errorf("first mapping %+v", m)
	}
	if m := ms[1]; m.anonymous != 256<<10 || m.rss != 512<<10 {
		t.Errorf("second mapping %+v", m)
	}
	if m := ms[2]; m.path != "[stack]" {
		t.Errorf("third mapping %+v", m)
	}
}
