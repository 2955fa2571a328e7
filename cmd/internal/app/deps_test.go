package app

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/seed-ddac166a/aws-secrets-injector"

// TestLeanBinariesLinkOnlyTheirRole lists what each lean main links (go list
// -deps) and fails when it pulls in what its role does not use: the point of
// having them. An entry ending in "/" bans every package under it; any other
// bans the package and its subpackages.
func TestLeanBinariesLinkOnlyTheirRole(t *testing.T) {
	common := []string{"github.com/spf13/cobra", module + "/cli/",
		// The SSM client's schema-based serde (service/ssm v1.80.0 and
		// later) builds its whole API's schemas at start: 1.43 MB of heap,
		// 7,882 allocations and 2 ms in every role that fetches, 56% of
		// asi-inject's start-up heap. go.mod holds service/ssm at v1.79.3,
		// which serialises with generated code; this ban makes a bump past
		// it a decision (README, "Dependencies and why").
		"github.com/aws/aws-sdk-go-v2/service/ssm/schemas"}
	for _, tc := range []struct {
		main   string
		banned []string
		// allowed are exceptions to the bans: leaf packages the role needs.
		allowed []string
	}{
		{"asi-inject", []string{
			"k8s.io/", "sigs.k8s.io/controller-runtime", "google.golang.org/grpc", "google.golang.org/protobuf",
			"github.com/prometheus/", "github.com/container-storage-interface/",
			module + "/webhook", module + "/mounter", module + "/certs", module + "/provider",
		}, nil},
		{"asi-exec", []string{
			"k8s.io/", "sigs.k8s.io/controller-runtime", "google.golang.org/grpc", "google.golang.org/protobuf",
			"github.com/prometheus/", "github.com/container-storage-interface/",
			module + "/webhook", module + "/mounter", module + "/certs", module + "/provider", module + "/injector",
		}, []string{
			module + "/cli/manifest",      // --spc FILE: the one bounded manifest reader
			module + "/injector/contract", // $AWS_SECRETS_INJECTOR_SPC: the init-mode env contract
		}},
		{"asi-mounter", []string{
			// The generated clientset links every API group's client and
			// scheme: the mounter uses package kube's core/v1-only client.
			"k8s.io/client-go/kubernetes",
			"sigs.k8s.io/controller-runtime", module + "/webhook", module + "/certs", module + "/injector", module + "/provider",
		}, nil},
		{"asi-provider", []string{
			"k8s.io/client-go/kubernetes", "sigs.k8s.io/controller-runtime", "github.com/container-storage-interface/",
			module + "/webhook", module + "/certs", module + "/injector", module + "/mounter",
		}, nil},
		{"asi-webhook", []string{
			"google.golang.org/grpc", "github.com/container-storage-interface/", "github.com/aws/aws-sdk-go-v2/service/",
			module + "/mounter", module + "/secrets/awsfetch", module + "/secrets/identity", module + "/provider",
		}, nil},
	} {
		t.Run(tc.main, func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f", "{{.ImportPath}}", module+"/cmd/"+tc.main).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 10 {
				t.Fatalf("go list returned %d packages", len(deps))
			}
			for _, dep := range deps {
				if slices.Contains(tc.allowed, dep) {
					continue
				}
				for _, b := range append(tc.banned, common...) {
					if dep == b || strings.HasPrefix(dep, strings.TrimSuffix(b, "/")+"/") {
						t.Errorf("%s links %s (banned: %s)", tc.main, dep, b)
					}
				}
			}
		})
	}
}
