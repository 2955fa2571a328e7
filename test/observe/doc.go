// Package observe checks what the chart ships for operators against what the
// binaries really export:
//
//   - dashboard.go reads the Grafana dashboard (charts/.../dashboards) and its
//     PromQL; rules.go renders the chart's PrometheusRule with the Helm library
//     into a Prometheus rules file; promql.go parses both with the Prometheus
//     library and lists the metrics and labels each query names;
//   - scrape.go reads a /metrics page into families, and says whether a
//     query's metric (a histogram's _bucket, _sum and _count included) and
//     labels are among them;
//   - stack.go runs the real binary as mounter (real tmpfs, the fake AWS) and
//     as webhook (the real kube-apiserver calling it) on loopback, and
//     load.go drives them with a bounded mix of traffic that makes every
//     series the dashboard and the alerts read appear;
//   - screenshot_test.go (build tag screenshot, `make dashboard-screenshot`)
//     has a real Prometheus scrape that stack, draws the dashboard's panels
//     from its JSON in a small page (web/) and has headless Chromium take the
//     picture the README shows.
//
// The unit tests need nothing but Go (and promtool for the rule unit tests,
// which `make test-rules` installs); the scrape test is `//go:build
// integration` (root, kube-apiserver and etcd in KUBEBUILDER_ASSETS).
package observe
