package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// BenchmarkServeHTTP: one admission through the HTTP handler (body read,
// review decode, Handle, response encode), without TLS or the network.
func BenchmarkServeHTTP(b *testing.B) {
	cfg := testConfig()
	cfg.Specs = NewSpecCache(16)
	h := &Handler{Config: cfg, Lookups: testLookups()}
	body := review(b, admissionv1.Create, podKind, "apps", testPod(nil))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, MutatePath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patchType":"JSONPatch"`)) {
			b.Fatalf("status %d: %.200s", rec.Code, rec.Body.String())
		}
	}
}
