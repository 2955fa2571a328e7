package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Files serves tls.crt and tls.key from a directory (cert-manager or any
// issuer mounting a Secret) and reloads them when they change, through
// controller-runtime's certwatcher (fsnotify plus a periodic re-read).
type Files struct {
	dir      string
	interval time.Duration
	w        atomic.Pointer[certwatcher.CertWatcher]
}

// NewFiles returns a source for dir/tls.crt and dir/tls.key, re-read at
// least every interval.
func NewFiles(dir string, interval time.Duration) *Files {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return &Files{dir: dir, interval: interval}
}

// GetCertificate serves the current certificate.
func (f *Files) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	w := f.w.Load()
	if w == nil {
		return nil, errors.New("no serving certificate loaded yet")
	}
	return w.GetCertificate(hello)
}

// Ready returns nil once the files were loaded.
func (f *Files) Ready() error {
	if f.w.Load() == nil {
		return fmt.Errorf("no serving certificate loaded yet from %s", f.dir)
	}
	return nil
}

// Start waits for the files to exist (a mounted Secret may lag), then
// watches them until ctx ends.
func (f *Files) Start(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("certs")
	certPath, keyPath := filepath.Join(f.dir, KeyTLSCert), filepath.Join(f.dir, KeyTLSKey)
	for {
		w, err := certwatcher.New(certPath, keyPath)
		if err == nil {
			f.w.Store(w.WithWatchInterval(f.interval))
			return w.Start(ctx)
		}
		log.Info("waiting for certificate files", "dir", f.dir, "error", err.Error())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// NeedLeaderElection is false: every replica serves, so every replica keeps
// its certificate current.
func (f *Files) NeedLeaderElection() bool { return false }
