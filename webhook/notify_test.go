package webhook

import (
	"context"
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
)

// TestNotify: the sidecar gets the signal and command in init mode with
// refresh and a shared PID namespace; everywhere it could not act, or with a
// bad value, the pod is denied naming the annotation and the fix.
func TestNotify(t *testing.T) {
	base := map[string]string{AnnotationMode: "init", AnnotationRefresh: "true", AnnotationNotifySignal: "hup", AnnotationNotifyCommand: "nginx"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	yes, no := true, false
	for _, tc := range []struct {
		name  string
		ann   map[string]string
		share *bool
		deny  string // "" admits
	}{
		{"admitted", base, &yes, ""},
		{"no shared PID namespace", base, nil, "spec.shareProcessNamespace: true"},
		{"shared PID namespace off", base, &no, "spec.shareProcessNamespace: true"},
		{"csi mode", with(AnnotationMode, "csi"), &yes, AnnotationExecOnChange},
		{"no refresh", with(AnnotationRefresh, ""), &yes, AnnotationRefresh},
		{"signal alone", with(AnnotationNotifyCommand, ""), &yes, AnnotationNotifyCommand + ": is missing"},
		{"command alone", with(AnnotationNotifySignal, ""), &yes, AnnotationNotifySignal + ": is missing"},
		{"unknown signal", with(AnnotationNotifySignal, "SIGNOPE"), &yes, AnnotationNotifySignal},
		{"uncatchable signal", with(AnnotationNotifySignal, "SIGKILL"), &yes, AnnotationNotifySignal},
		{"command with a slash", with(AnnotationNotifyCommand, "/usr/sbin/nginx"), &yes, AnnotationNotifyCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPod(tc.ann)
			p.Spec.ShareProcessNamespace = tc.share
			out, _, err := Mutate(context.Background(), p, "apps", testConfig(), testLookups())
			if tc.deny != "" {
				if err == nil || !strings.Contains(err.Error(), tc.deny) {
					t.Fatalf("error %v, want a denial naming %q", err, tc.deny)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := injectorContainer(t, out)
			sig, cmd := envIndex(c.Env, contract.EnvNotifySignal), envIndex(c.Env, contract.EnvNotifyCommand)
			if sig < 0 || cmd < 0 || c.Env[sig].Value != "SIGHUP" || c.Env[cmd].Value != "nginx" {
				t.Errorf("sidecar env %v, want %s=SIGHUP and %s=nginx", c.Env, contract.EnvNotifySignal, contract.EnvNotifyCommand)
			}
			if c.RestartPolicy == nil {
				t.Errorf("the injector is not a native sidecar")
			}
		})
	}
}
