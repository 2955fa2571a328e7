// Command fakeaws serves the fake AWS of package fakeaws on one address until SIGTERM or SIGINT.
//
//	go run ./test/fakeaws/cmd/fakeaws --addr 127.0.0.1:PORT --state FILE [--tls-cert F --tls-key F] [--also-listen ADDR,...]
//
// It prints "fakeaws ready on URL" on stdout once it listens; logs (no secret values) go to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeaws:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (host:port; port 0 picks one)")
	statePath := flag.String("state", "", "YAML state file (users, roles, secrets, parameters, issuers, ...)")
	tlsCert := flag.String("tls-cert", "", "PEM certificate: serve https (needs --tls-key)")
	tlsKey := flag.String("tls-key", "", "PEM private key for --tls-cert")
	podPath := flag.String("pod-identity-path", fakeaws.DefaultPodIdentityPath, "path of the Pod Identity agent endpoint")
	alsoListen := flag.String("also-listen", "", "comma-separated extra plain-http addresses serving the same endpoints (e.g. 169.254.170.23:80)")
	verbose := flag.Bool("v", false, "log every call (API, principal, region; never values)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", flag.Args())
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	// Catch signals before announcing readiness, so a SIGTERM right after the line is handled.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	opts := []fakeaws.Option{
		fakeaws.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))),
		fakeaws.WithPodIdentityPath(*podPath),
	}
	var (
		srv *fakeaws.Server
		err error
	)
	if *statePath != "" {
		srv, err = fakeaws.Load(*statePath, opts...)
	} else {
		srv, err = fakeaws.New(fakeaws.State{}, opts...)
	}
	if err != nil {
		return err
	}
	if *tlsCert != "" {
		err = srv.StartTLS(*addr, *tlsCert, *tlsKey)
	} else {
		err = srv.Start(*addr)
	}
	if err != nil {
		return err
	}
	for _, a := range strings.Split(*alsoListen, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		u, err := srv.Listen(a)
		if err != nil {
			_ = srv.Close()
			return err
		}
		fmt.Fprintf(os.Stderr, "fakeaws also on %s\n", u)
	}
	fmt.Printf("fakeaws ready on %s\n", srv.URL())
	<-ctx.Done()
	return srv.Close()
}
