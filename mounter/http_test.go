//go:build integration

package mounter_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestHealthAndMetrics(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{CacheTTL: time.Minute})
	ctx := context.Background()
	for _, pod := range []string{"m1", "m2"} {
		if err := e.Publish(ctx, pod, mountertest.SAApp, mountertest.SeedClass); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Publish(ctx, "denied", mountertest.SAOther, mountertest.SeedClass); err == nil {
		t.Fatal("pod with the other role read the secret")
	}
	h := mounter.HTTPHandler(e.Socket, e.Driver.Metrics(), e.Driver)
	if code, body := get(t, h, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body := get(t, h, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`aws_secrets_injector_mounter_publishes_total{outcome="mounted"} 2`,
		`aws_secrets_injector_mounter_publish_failures_total{reason="AccessDenied"} 1`,
		`aws_secrets_injector_mounter_aws_calls_total{operation="AssumeRoleWithWebIdentity",service="STS"} 2`,
		`aws_secrets_injector_mounter_aws_call_failures_total{api="GetSecretValue",reason="AccessDenied"} 1`,
		`aws_secrets_injector_mounter_cache_hits_total 1`,
		`aws_secrets_injector_mounter_cache_misses_total 2`,
		`aws_secrets_injector_mounter_aws_call_duration_seconds_count{api="GetSecretValue",result="AccessDenied"} 1`,
		`aws_secrets_injector_mounter_volumes 2`,
		`aws_secrets_injector_mounter_mounted_bytes 154`, // 2 × (whole JSON value 53 + "admin" 5 + "supersecretpassword" 19)
		`aws_secrets_injector_mounter_fetch_duration_seconds_count 3`,
		`aws_secrets_injector_mounter_rotations_total 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s in:\n%s", want, grepLines(body, strings.Fields(want)[0]))
		}
	}
	if regexp.MustCompile(`supersecret|admin"`).MatchString(body) {
		t.Error("/metrics leaks a value")
	}
	e.Close()
	if code, _ := get(t, h, "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz with the socket gone = %d", code)
	}
}

func TestOptions(t *testing.T) {
	o := mounter.NewOptions()
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--node-name", "n1", "--driver-name", "secrets-store.csi.k8s.io"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if o.PluginDir != "/var/lib/kubelet/plugins/secrets-store.csi.k8s.io" || o.RegistrationEndpoint != o.PluginDir+"/csi.sock" {
		t.Errorf("derived paths %q %q", o.PluginDir, o.RegistrationEndpoint)
	}
	if o.KubeCacheIdle != 10*time.Minute || o.KubeCacheMaxObjects != 1000 {
		t.Errorf("API object cache defaults: idle %s, max %d", o.KubeCacheIdle, o.KubeCacheMaxObjects)
	}
	off := mounter.NewOptions()
	fs = pflag.NewFlagSet("x", pflag.ContinueOnError)
	off.AddFlags(fs)
	if err := fs.Parse([]string{"--node-name", "n1", "--kube-cache-idle", "0"}); err != nil {
		t.Fatal(err)
	}
	if err := off.Validate(); err != nil {
		t.Errorf("--kube-cache-idle 0 (no watches): %v", err)
	}
	bad := mounter.NewOptions()
	fs = pflag.NewFlagSet("x", pflag.ContinueOnError)
	bad.AddFlags(fs)
	if err := fs.Parse([]string{"--node-name", "n1", "--endpoint", "tcp://1.2.3.4:5", "--node-identity", "sometimes",
		"--tmpfs-size", "1Ki", "--refresh-interval", "1s", "--kubelet-dir", "rel", "--kube-cache-idle", "10s", "--kube-cache-max-objects", "0"}); err != nil {
		t.Fatal(err)
	}
	err := bad.Validate()
	for _, want := range []string{"--endpoint", "--node-identity", "--tmpfs-size", "--refresh-interval", "--kubelet-dir", "--kube-cache-idle", "--kube-cache-max-objects"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not report %s: %v", want, err)
		}
	}
	if p, err := mounter.ParseEndpoint("unix:///csi/csi.sock"); err != nil || p != "/csi/csi.sock" {
		t.Errorf("ParseEndpoint = %q, %v", p, err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPodStatus: /status/pods/{uid} shows the volumes of that pod only: what
// was read and when, the change after a rotation, the error of a failed
// refresh; never a value; 404 for a pod the node does not serve.
func TestPodStatus(t *testing.T) {
	requireRoot(t)
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{Now: clk.Now, RefreshInterval: time.Minute, CacheTTL: time.Minute})
	ctx := context.Background()
	for _, pod := range []string{"s1", "s2"} {
		if err := e.Publish(ctx, pod, mountertest.SAApp, mountertest.SeedClass); err != nil {
			t.Fatal(err)
		}
	}
	published := clk.Now()
	h := mounter.HTTPHandler(e.Socket, e.Driver.Metrics(), e.Driver)
	status := func(uid string) (int, mounter.PodStatus, string) {
		t.Helper()
		code, body := get(t, h, "/status/pods/"+uid)
		var ps mounter.PodStatus
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &ps); err != nil {
				t.Fatalf("status body %q: %v", body, err)
			}
		}
		for _, v := range []string{"supersecretpassword", "rotated-pw"} {
			if strings.Contains(body, v) {
				t.Fatalf("status of %s holds a secret value: %s", uid, body)
			}
		}
		return code, ps, body
	}
	code, ps, body := status(mountertest.PodUID("s1"))
	if code != http.StatusOK || ps.Name != "s1" || ps.Namespace != mountertest.Namespace || len(ps.Volumes) != 1 {
		t.Fatalf("status of s1: %d %s", code, body)
	}
	v := ps.Volumes[0]
	if v.Class != mountertest.SeedClass || v.ServiceAccount != mountertest.SAApp || v.Interval != "1m0s" || v.Bytes == 0 ||
		!v.LastFetch.Equal(published) || !v.LastChange.Equal(published) || v.LastError != "" || !strings.Contains(v.Identity, mountertest.SAApp) {
		t.Errorf("s1's volume: %+v", v)
	}
	if code, _, body := status("no-such-uid"); code != http.StatusNotFound || !strings.Contains(body, "serves no volume of pod no-such-uid") {
		t.Errorf("unknown pod: %d %s", code, body)
	}
	if code, _ := get(t, h, "/status/pods/"+strings.Repeat("u", 65)); code != http.StatusBadRequest {
		t.Errorf("a 65-byte UID: %d, want 400", code)
	}

	// A rotation: lastFetch and lastChange move.
	if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"rotated-pw"}`); err != nil {
		t.Fatal(err)
	}
	clk.Add(61 * time.Second)
	if err := e.Publish(ctx, "s1", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}
	_, ps, _ = status(mountertest.PodUID("s1"))
	if v := ps.Volumes[0]; !v.LastChange.Equal(clk.Now()) || !v.LastFetch.Equal(clk.Now()) || v.LastError != "" {
		t.Errorf("after a rotation: %+v, want lastFetch and lastChange %s", v, clk.Now())
	}
	// A failed refresh (AWS refuses): lastError says why, lastChange stays.
	e.AWS.SetFault(fakeaws.Fault{API: "secretsmanager:*", ErrorCode: "AccessDeniedException"})
	clk.Add(61 * time.Second)
	if err := e.Publish(ctx, "s2", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}
	_, ps, _ = status(mountertest.PodUID("s2"))
	if v := ps.Volumes[0]; !strings.Contains(v.LastError, "AccessDenied") || !v.LastChange.Equal(published) || !v.LastAttempt.Equal(clk.Now()) {
		t.Errorf("after a failed refresh: %+v", v)
	}
}
