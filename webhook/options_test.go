package webhook

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/equality"
)

func TestOptionsFlagsAndValidate(t *testing.T) {
	parse := func(args ...string) (*Options, error) {
		o := NewOptions()
		o.Namespace = ""
		fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		return o, o.Validate()
	}
	o, err := parse("--namespace=sys")
	if err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	if c := o.Config(); c.DriverName != DefaultDriverName || c.DefaultMode != ModeCSI || c.DefaultMountPath != DefaultMountPath ||
		c.Namespace != "sys" || c.Specs == nil || !c.IsExcludedNamespace("kube-public") || c.IsExcludedNamespace("apps") {
		t.Fatalf("config from defaults: %+v", c)
	}
	o, err = parse("--namespace=sys", "--driver-name=secrets-store.csi.k8s.io", "--default-mode=init", "--injector-image=img:1",
		"--default-mount-path=/run/secrets", "--exclude-namespaces=a,b", "--cert-mode=files", "--cert-dir=/certs", "--tls-min-version=1.3")
	if err != nil {
		t.Fatal(err)
	}
	if c := o.Config(); c.DriverName != "secrets-store.csi.k8s.io" || c.DefaultMode != ModeInit || !c.IsExcludedNamespace("b") {
		t.Fatalf("config: %+v", c)
	}
	o, err = parse("--namespace=sys", "--injector-image=img:1", "--injector-image-pull-policy=Never", "--injector-aws-region=eu-west-1",
		"--injector-aws-endpoint=http://127.0.0.1:4566", "--injector-cpu-request=", "--injector-cpu-limit=1", "--injector-memory-request=32Mi",
		"--injector-memory-limit=", "--injector-volume-size-limit=", "--injector-refresh-interval=30s", "--injector-deadline=5m")
	if err != nil {
		t.Fatal(err)
	}
	ic := o.Config().Init
	if ic.PullPolicy != "Never" || ic.Region != "eu-west-1" || ic.Endpoint != "http://127.0.0.1:4566" || ic.VolumeSizeLimit != nil ||
		ic.RefreshInterval.String() != "30s" || ic.Deadline.String() != "5m0s" || len(ic.Resources.Requests) != 1 || len(ic.Resources.Limits) != 1 ||
		ic.Resources.Requests.Memory().String() != "32Mi" || ic.Resources.Limits.Cpu().String() != "1" {
		t.Fatalf("init config from flags: %+v", ic)
	}
	if d := DefaultInitConfig(); !equality.Semantic.DeepEqual(NewOptions().Config().Init, d) {
		t.Fatalf("default flags give %+v, want DefaultInitConfig %+v", NewOptions().Config().Init, d)
	}
	for args, want := range map[string]string{
		"":                                    "--namespace",
		"--namespace=sys --default-mode=x":    "--default-mode",
		"--namespace=sys --default-mode=init": "--injector-image",
		"--namespace=sys --default-mount-path=rel":                 "--default-mount-path",
		"--namespace=sys --default-mount-path=/a/":                 "clean form",
		"--namespace=sys --port=70000":                             "--port",
		"--namespace=sys --tls-min-version=1.1":                    "--tls-min-version",
		"--namespace=sys --driver-name=Bad_Name":                   "--driver-name",
		"--namespace=sys --cert-mode=vault":                        "--cert-mode",
		"--namespace=sys --cert-validity=1h --ca-validity=1h":      "--ca-validity",
		"--namespace=sys --cert-extra-hosts=bad_host":              "--cert-extra-hosts",
		"--namespace=sys --exclude-namespaces=Bad":                 "--exclude-namespaces",
		"--namespace=sys --injector-image-pull-policy=Sometimes":   "--injector-image-pull-policy",
		"--namespace=sys --injector-aws-region=mars":               "--injector-aws-region",
		"--namespace=sys --injector-aws-endpoint=vpce.example.com": "--injector-aws-endpoint",
		"--namespace=sys --injector-cpu-request=lots":              "--injector-cpu-request",
		"--namespace=sys --injector-memory-limit=-1":               "--injector-memory-limit",
		"--namespace=sys --injector-memory-request=1Gi":            "--injector-memory-request 1Gi exceeds --injector-memory-limit 128Mi",
		"--namespace=sys --injector-volume-size-limit=big":         "--injector-volume-size-limit",
		"--namespace=sys --injector-refresh-interval=1s":           "--injector-refresh-interval",
		"--namespace=sys --injector-deadline=-1s":                  "--injector-deadline",
	} {
		_, err := parse(strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming %s", args, err, want)
		}
	}
}
