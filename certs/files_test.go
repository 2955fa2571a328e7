package certs

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteCommandFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	o := &WriteOptions{Hosts: []string{"svc.ns.svc", "127.0.0.1"}, Out: dir, Validity: time.Hour}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := Write(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "tls.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tls.key: %v %v", fi.Mode(), err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	crtPEM, _ := os.ReadFile(filepath.Join(dir, "tls.crt"))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "tls.key"))
	kp, err := ParseKeyPair(crtPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	for _, h := range o.Hosts {
		if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: h}); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example.com"}); err == nil {
		t.Error("certificate verifies for a name it was not issued for")
	}
}

func TestWriteOptionsValidate(t *testing.T) {
	for _, o := range []WriteOptions{
		{Out: "x", Validity: time.Hour},
		{Hosts: []string{"a"}, Validity: time.Hour},
		{Hosts: []string{"bad name"}, Out: "x", Validity: time.Hour},
		{Hosts: []string{"a"}, Out: "x", Validity: time.Second},
	} {
		if o.Validate() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestFilesReloads(t *testing.T) {
	dir := t.TempDir()
	write := func() string {
		if err := Write(context.Background(), &WriteOptions{Hosts: []string{"a.b.svc"}, Out: dir, Validity: time.Hour}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "tls.crt"))
		kp, _ := ParseKeyPair(b, mustRead(t, filepath.Join(dir, "tls.key")))
		return kp.Cert.SerialNumber.String()
	}
	f := NewFiles(dir, 100*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Start(ctx) }()
	time.Sleep(200 * time.Millisecond)
	if f.Ready() == nil {
		t.Fatal("ready without files")
	}
	first := write()
	waitServed(t, f, first)
	second := write()
	waitServed(t, f, second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func waitServed(t *testing.T, f *Files, serial string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := f.GetCertificate(nil); err == nil {
			leaf, _ := x509.ParseCertificate(c.Certificate[0])
			if leaf.SerialNumber.String() == serial {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("certificate %s not served within 10s", serial)
}
