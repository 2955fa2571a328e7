// Command render-rules writes the chart's PrometheusRule (default values) as a
// Prometheus rules file, for promtool and for a Prometheus run outside a
// cluster: `go run ./cmd/render-rules OUT`.
package main

import (
	"fmt"
	"os"

	"github.com/seed-ddac166a/aws-secrets-injector/test/observe"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: render-rules OUT")
		os.Exit(2)
	}
	b, err := observe.RenderRules(nil)
	if err == nil {
		_, err = observe.ParseRules(b)
	}
	if err == nil {
		err = os.WriteFile(os.Args[1], b, 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "render-rules:", err)
		os.Exit(1)
	}
}
