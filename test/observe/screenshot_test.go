//go:build screenshot

package observe

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	shotOut   = flag.String("out", "../../docs/dashboard.png", "where the screenshot goes")
	shotTicks = flag.Int("ticks", 120, "load rounds, one every 2s (bounded: at most 300)")
)

// TestDashboardScreenshot has a real Prometheus (Debian's prometheus) scrape
// the real binaries under a bounded load (two nodes' mounters on real tmpfs
// against the fake AWS, the webhook called by the real API server), with the
// chart's rules loaded; then serves web/ (uPlot from npm) on loopback,
// which draws each panel of the dashboard JSON from its own query through
// Prometheus's HTTP API, checks in the page that every panel got data, and
// has headless Chromium take the screenshot (`make dashboard-screenshot`).
func TestDashboardScreenshot(t *testing.T) {
	if *shotTicks <= 0 || *shotTicks > 300 {
		t.Fatalf("-ticks %d: 1 to 300", *shotTicks)
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found (make dashboard-screenshot installs Debian's package): %v", err)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (make dashboard-screenshot installs Debian's package): %v", err)
	}
	if _, err := os.Stat("web/node_modules/uplot/dist/uPlot.iife.min.js"); err != nil {
		t.Fatalf("uPlot missing: run npm ci in test/observe/web (make dashboard-screenshot does): %v", err)
	}
	const tick = 2 * time.Second
	s := Start(t, Options{Nodes: 2})

	// 1. Prometheus scraping every process each 5s, evaluating the chart's rules.
	dir := t.TempDir()
	rules, err := RenderRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	hostport := func(u string) string { p, _ := url.Parse(u); return p.Host }
	cfg := "global: {scrape_interval: 5s, evaluation_interval: 5s}\nrule_files: [rules.yaml]\nscrape_configs:\n"
	cfg += fmt.Sprintf("  - job_name: aws-secrets-injector-webhook\n    static_configs:\n      - targets: [%q]\n        labels: {namespace: %s, pod: aws-secrets-injector-webhook-7d9c4-x2vlq}\n",
		hostport(s.WebhookMetrics), OwnNamespace)
	cfg += "  - job_name: aws-secrets-injector-mounter\n    static_configs:\n"
	for i, m := range s.Mounters {
		cfg += fmt.Sprintf("      - targets: [%q]\n        labels: {namespace: %s, pod: aws-secrets-injector-mounter-%c%c4kq, node: %s}\n",
			hostport(m.Metrics), OwnNamespace, 'a'+i, 'f'+i, m.Node)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := freeAddr(t)
	run(t, "prometheus", promBin, []string{"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + promAddr}, nil, "http://"+promAddr+"/-/ready")

	// 2. The load, bounded in rounds and time.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*shotTicks)*tick+5*time.Minute)
	defer cancel()
	begin := time.Now()
	st, err := s.Run(ctx, Plan{Ticks: *shotTicks, Tick: tick, Volumes: 12, ThrottleAt: *shotTicks / 2,
		ThrottleTicks: *shotTicks / 6, RotateEvery: 15})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load for %s: %s", time.Since(begin).Round(time.Second), st)
	time.Sleep(12 * time.Second) // the last scrapes and rule evaluations
	end := time.Now()

	// 3. The page, on loopback, with Prometheus's API behind /api/v1.
	promURL, _ := url.Parse("http://" + promAddr)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", httputil.NewSingleHostReverseProxy(promURL))
	mux.Handle("/uplot/", http.StripPrefix("/uplot/", http.FileServer(http.Dir("web/node_modules/uplot/dist"))))
	mux.HandleFunc("/render.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, "web/render.js") })
	mux.HandleFunc("/dashboard.json", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(ChartDir, DashboardFile))
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, "web/index.html") })
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	span := end.Sub(begin) + 10*time.Second
	// What the memory panel will show: one series per process.
	if b, err := promGet(ctx, "http://"+promAddr+"/api/v1/query?query=count+by+(job,pod)(process_resident_memory_bytes)"); err == nil {
		t.Logf("process series: %s", b)
	}
	page := fmt.Sprintf("http://%s/?end=%d&range=%d&step=5&rate=30s&ns=%s", l.Addr(), end.Unix(), int(span.Seconds()), OwnNamespace)

	// 4. Chromium: the page's DOM once drawn (every panel with data), then the picture.
	chrome := func(extra ...string) []byte {
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
			"--user-data-dir=" + t.TempDir(), "--window-size=1600,1780", "--virtual-time-budget=30000"}, extra...)
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Minute)
		defer ccancel()
		out, err := exec.CommandContext(cctx, chromium, append(args, page)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", extra, err)
		}
		return out
	}
	dom := string(chrome("--dump-dom"))
	ready := regexp.MustCompile(`data-ready="([^"]*)"`).FindStringSubmatch(dom)
	if ready == nil || ready[1] != "ok" {
		t.Fatalf("the page did not draw: %v\n%s", ready, tail(dom, 20))
	}
	if n := strings.Count(dom, `class="nodata"`); n > 0 {
		t.Errorf("%d panels without data", n)
	}
	d, _, err := LoadDashboard()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, p := range d.AllPanels() {
		if p.Type == "timeseries" {
			series++
		}
	}
	if n := strings.Count(dom, `class="uplot`); n != series {
		t.Errorf("%d charts drawn, want one per timeseries panel (%d)", n, series)
	}
	out, err := filepath.Abs(*shotOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	chrome("--screenshot=" + out)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%s KiB) of %s", out, strconv.FormatInt(fi.Size()>>10, 10), page)
}

func promGet(ctx context.Context, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return string(b), err
}
