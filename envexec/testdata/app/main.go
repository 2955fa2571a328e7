// Command app is the exec wrapper tests' stand-in for a user's app.
//
//	app env            print the environment, one variable a line, after a "pid N" line
//	app exit N         exit with code N
//	app kill N         kill itself with signal N
//	app cat            copy standard input to standard output
//	app touch FILE     create FILE (proof that the app started), exit 0
//	app serve EVENTS VAR [ignore-term]
//	                   append "start PID VALUE-OF-VAR" to EVENTS, then one line
//	                   "SIGNAME PID" per signal received; exit 7 on SIGTERM
//	                   unless ignore-term
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	switch os.Args[1] {
	case "env":
		fmt.Printf("pid %d\n", os.Getpid())
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	case "exit":
		n, _ := strconv.Atoi(os.Args[2])
		os.Exit(n)
	case "kill":
		n, _ := strconv.Atoi(os.Args[2])
		signal.Reset()
		_ = syscall.Kill(os.Getpid(), syscall.Signal(n))
		select {}
	case "cat":
		_, _ = io.Copy(os.Stdout, os.Stdin)
	case "touch":
		_ = os.WriteFile(os.Args[2], nil, 0o644)
	case "serve":
		serve(os.Args[2], os.Args[3], len(os.Args) > 4 && os.Args[4] == "ignore-term")
	}
}

func serve(events, name string, ignoreTerm bool) {
	f, err := os.OpenFile(events, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		os.Exit(99)
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGUSR1,
		syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT, syscall.SIGALRM)
	pid := os.Getpid()
	fmt.Fprintf(f, "start %d %s\n", pid, os.Getenv(name))
	for s := range sigs {
		fmt.Fprintf(f, "%s %d\n", unix.SignalName(s.(syscall.Signal)), pid)
		if s == syscall.SIGTERM && !ignoreTerm {
			os.Exit(7)
		}
	}
}
