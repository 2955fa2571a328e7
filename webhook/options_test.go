package webhook

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
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
	for args, want := range map[string]string{
		"":                                    "--namespace",
		"--namespace=sys --default-mode=x":    "--default-mode",
		"--namespace=sys --default-mode=init": "--injector-image",
		"--namespace=sys --default-mount-path=rel":            "--default-mount-path",
		"--namespace=sys --default-mount-path=/a/":            "clean form",
		"--namespace=sys --port=70000":                        "--port",
		"--namespace=sys --tls-min-version=1.1":               "--tls-min-version",
		"--namespace=sys --driver-name=Bad_Name":              "--driver-name",
		"--namespace=sys --cert-mode=vault":                   "--cert-mode",
		"--namespace=sys --cert-validity=1h --ca-validity=1h": "--ca-validity",
		"--namespace=sys --cert-extra-hosts=bad_host":         "--cert-extra-hosts",
		"--namespace=sys --exclude-namespaces=Bad":            "--exclude-namespaces",
	} {
		_, err := parse(strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming %s", args, err, want)
		}
	}
}
