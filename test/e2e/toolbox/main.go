// Command toolbox is the static binary of the end-to-end tests' workload
// image (no registry here, so no ubuntu): one multi-call program installed as
// /sleep, /cat, /ls and /toolbox (the image's PATH is /), chosen by the name it is
// called by (or by its first argument when called as toolbox).
//
//	sleep SECONDS      block (SIGTERM ends it at once)
//	cat FILE...        print files
//	ls DIR             print the names in DIR, one a line
//	toolbox mounts     print /proc/self/mounts
//	toolbox envhash NAME PREFIX
//	                   print sha256($NAME)[:12] (a password: only its hash
//	                   is printed) and how many variables start with PREFIX,
//	                   as "HASH COUNT" ("unset COUNT" when NAME is unset)
//	toolbox reload NAME FILE
//	                   print "env sha256($NAME)[:12]" at start, then on each
//	                   SIGHUP "hup sha256(FILE's content)[:12]"; SIGTERM ends it
//	                   (an app that re-reads its files when told, or is restarted)
//	toolbox pairs DIR SECONDS A B
//	                   for SECONDS, read files A and B of one generation of DIR
//	                   (through the target of DIR/..data, as a reader that wants a
//	                   consistent set does) every 2ms and print each distinct
//	                   pair as "A-content<TAB>sha256(B-content)[:12]" when first seen
//	                   (B is a password: only its hash is printed)
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args
	name := filepath.Base(args[0])
	if name == "toolbox" && len(args) > 1 {
		name, args = args[1], args[1:]
	}
	if err := run(name, args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

func run(name string, args []string) error {
	switch name {
	case "sleep":
		if len(args) != 1 {
			return fmt.Errorf("usage: sleep SECONDS")
		}
		n, err := strconv.ParseFloat(args[0], 64)
		if err != nil {
			return fmt.Errorf("parse %q: %w", args[0], err)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-time.After(time.Duration(n * float64(time.Second))):
		case <-sig:
		}
		return nil
	case "cat", "mounts":
		if name == "mounts" {
			args = []string{"/proc/self/mounts"}
		}
		for _, f := range args {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			_, err = io.Copy(os.Stdout, fh)
			_ = fh.Close()
			if err != nil {
				return fmt.Errorf("read %s: %w", f, err)
			}
		}
		return nil
	case "ls":
		if len(args) != 1 {
			return fmt.Errorf("usage: ls DIR")
		}
		entries, err := os.ReadDir(args[0])
		if err != nil {
			return err
		}
		for _, e := range entries {
			fmt.Println(e.Name())
		}
		return nil
	case "envhash":
		if len(args) != 2 {
			return fmt.Errorf("usage: envhash NAME PREFIX")
		}
		n := 0
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, args[1]) {
				n++
			}
		}
		v, ok := os.LookupEnv(args[0])
		if !ok {
			fmt.Printf("unset %d\n", n)
			return nil
		}
		sum := sha256.Sum256([]byte(v))
		fmt.Printf("%s %d\n", hex.EncodeToString(sum[:])[:12], n)
		return nil
	case "reload":
		if len(args) != 2 {
			return fmt.Errorf("usage: reload NAME FILE")
		}
		hash := func(b []byte) string { sum := sha256.Sum256(b); return hex.EncodeToString(sum[:])[:12] }
		fmt.Printf("env %s\n", hash([]byte(os.Getenv(args[0]))))
		sig := make(chan os.Signal, 4)
		signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
		for s := range sig {
			if s != syscall.SIGHUP {
				return nil
			}
			b, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			fmt.Printf("hup %s\n", hash(b))
		}
		return nil
	case "pairs":
		if len(args) != 4 {
			return fmt.Errorf("usage: pairs DIR SECONDS A B")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return fmt.Errorf("parse %q: %w", args[1], err)
		}
		return pairs(args[0], time.Duration(n)*time.Second, args[2], args[3])
	}
	return fmt.Errorf("unknown command (sleep, cat, ls, mounts, envhash, pairs)")
}

func pairs(dir string, d time.Duration, a, b string) error {
	seen := map[string]bool{}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		time.Sleep(2 * time.Millisecond)
		gen, err := os.Readlink(filepath.Join(dir, "..data"))
		if err != nil {
			return err
		}
		va, errA := os.ReadFile(filepath.Join(dir, gen, a))
		vb, errB := os.ReadFile(filepath.Join(dir, gen, b))
		if errA != nil || errB != nil {
			continue // that generation was removed after the switch: read the next
		}
		sum := sha256.Sum256(vb)
		line := string(va) + "\t" + hex.EncodeToString(sum[:])[:12]
		if !seen[line] {
			seen[line] = true
			fmt.Println(line)
		}
	}
	return nil
}
