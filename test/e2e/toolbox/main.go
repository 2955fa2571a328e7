// Command toolbox is the static binary of the end-to-end tests' workload
// image (no registry here, so no ubuntu): one multi-call program installed as
// /sleep, /cat, /ls and /toolbox (the image's PATH is /), chosen by the name it is
// called by (or by its first argument when called as toolbox).
//
//	sleep SECONDS      block (SIGTERM ends it at once)
//	cat FILE...        print files
//	ls DIR             print the names in DIR, one a line
//	toolbox mounts     print /proc/self/mounts
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
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
			fh.Close()
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
	}
	return fmt.Errorf("unknown command (sleep, cat, ls, mounts)")
}
