package app

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// shedExecutablePages gives back the resident pages of this executable's
// read-only mappings (its code and read-only data), so the process's resident
// set holds the code it has run since, not the package initialisers of every
// library it links. The pages are clean copies of the file: a later access
// maps them back from the page cache (a minor fault). It also marks the
// mappings random-access (MADV_RANDOM): a page the page cache has lost is read
// alone, without a readahead window. That does not stop the kernel's
// fault-around, which maps the cached neighbours of a faulting page (16 pages
// with the default 64 KiB; seen on Linux 6.18 with a test program), so what
// comes back is the 64 KiB windows of the code that ran. Writable mappings, and any mapping with a
// private copy of a page (Anonymous in smaps: data a position-independent
// build relocated, or a debugger's breakpoint), are left alone; a dirty page
// of the page cache (a file written moments ago) is still the file's. It returns the bytes given back; any failure only means
// fewer.
func shedExecutablePages() int64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0
	}
	var shed int64
	for _, m := range parseSmaps(smaps) {
		if m.path != exe || strings.ContainsRune(m.perms, 'w') || m.anonymous > 0 {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_RANDOM); e != 0 {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); e == 0 {
			shed += m.rss
		}
	}
	return shed
}

// mapping is one entry of /proc/self/smaps (sizes in bytes).
type mapping struct {
	start, end     uintptr
	perms, path    string
	rss, anonymous int64
}

// parseSmaps reads the mappings of an smaps file: a header line per mapping
// ("start-end perms offset dev inode [path]") and its "Key: N kB" lines.
func parseSmaps(b []byte) []mapping {
	var out []mapping
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if key, ok := strings.CutSuffix(fields[0], ":"); ok {
			if len(out) == 0 || len(fields) < 2 {
				continue
			}
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				continue
			}
			m := &out[len(out)-1]
			switch key {
			case "Rss":
				m.rss = kb << 10
			case "Anonymous":
				m.anonymous = kb << 10
			}
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok || len(fields) < 5 {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		m := mapping{start: uintptr(start), end: uintptr(end), perms: fields[1]}
		if len(fields) >= 6 {
			m.path = strings.Join(fields[5:], " ")
		}
		out = append(out, m)
	}
	return out
}
