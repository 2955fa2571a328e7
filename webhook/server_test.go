package webhook

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
)

// staticSource serves one certificate.
type staticSource struct{ c *tls.Certificate }

func (s staticSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.c, nil }
func (staticSource) Ready() error                                                    { return nil }
func (staticSource) Start(ctx context.Context) error                                 { <-ctx.Done(); return nil }

func TestServerTLSVersions(t *testing.T) {
	ca, err := certs.NewCA("ca", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := certs.NewServing(ca, []string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	srv := newWebhookServer("127.0.0.1", port, staticSource{c}, tls.VersionTLS12)
	Register(srv, &Handler{Config: testConfig(), Lookups: testLookups()}, func(*http.Request) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Start(ctx) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitTLS(t, addr)

	dial := func(maxVersion uint16) error {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: maxVersion})
		if err == nil {
			_ = conn.Close()
		}
		return err
	}
	if err := dial(tls.VersionTLS11); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if err := dial(v); err != nil {
			t.Fatalf("TLS %x refused: %v", v, err)
		}
	}
	if body := httpsGet(t, "https://"+addr+HealthzPath); body != "ok" {
		t.Fatalf("/healthz: %q", body)
	}
}

func httpsGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b := make([]byte, 16)
	n, _ := resp.Body.Read(b)
	return string(b[:n])
}
