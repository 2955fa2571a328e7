package webhook

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	execcontract "github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
)

// TestExecDenials: every exec annotation the wrapper would refuse at start,
// and every container it cannot run in front of, is a denial at admission
// naming the annotation (and the files or container) and the fix; a row
// without wants is the control, admitted.
func TestExecDenials(t *testing.T) {
	cases := map[string]struct {
		ann    map[string]string
		change func(*corev1.Pod)
		want   []string
	}{
		"no command": {map[string]string{AnnotationExec: "true"}, func(p *corev1.Pod) { p.Spec.Containers[1].Command = nil },
			[]string{AnnotationExec, `container "sidecar" has no command`, "ENTRYPOINT", "set command"}},
		"args only": {map[string]string{AnnotationExec: "true"}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Command, p.Spec.Containers[0].Args = nil, []string{"--port", "8080"}
		}, []string{AnnotationExec, `container "app" has no command`}},
		"two files one name": {map[string]string{AnnotationExec: "true", AnnotationSecretProviderClass: "clash"}, nil,
			[]string{AnnotationExec, `"db-user"`, `"db_user"`, "DB_USER", AnnotationExecEnv}},
		"file without a variable name": {map[string]string{AnnotationExec: "true", AnnotationSecretProviderClass: "digit"}, nil,
			[]string{AnnotationExec, `"2fa-seed"`, "starts with a digit", AnnotationExecEnv}},
		"mapping fixes it": {map[string]string{AnnotationExec: "true", AnnotationSecretProviderClass: "digit", AnnotationExecEnv: "2fa-seed=TWO_FA"}, nil,
			nil},
		"mapping makes a clash": {map[string]string{AnnotationExec: "true", AnnotationExecEnv: "db-user=DB_PASSWORD"}, nil,
			[]string{AnnotationExecEnv, `"db-password"`, `"db-user"`, "both map to DB_PASSWORD"}},
		"mapping names no file": {map[string]string{AnnotationExec: "true", AnnotationExecEnv: "db-pass=PGPASSWORD"}, nil,
			[]string{AnnotationExecEnv, `"db-pass"`, "does not hold"}},
		"invalid env name": {map[string]string{AnnotationExec: "true", AnnotationExecEnv: "db-password=2PASS"}, nil,
			[]string{AnnotationExecEnv, `"2PASS" is not a variable name`}},
		"reserved env name": {map[string]string{AnnotationExec: "true", AnnotationExecEnv: "db-password=LD_PRELOAD"}, nil,
			[]string{AnnotationExecEnv, "LD_PRELOAD", "reserved"}},
		"mapping without =": {map[string]string{AnnotationExec: "true", AnnotationExecEnv: "db-password"}, nil,
			[]string{AnnotationExecEnv, "no '='"}},
		"unknown signal": {map[string]string{AnnotationExec: "true", AnnotationExecOnChange: "signal:SIGRELOAD"}, nil,
			[]string{AnnotationExecOnChange, `"SIGRELOAD" is not a signal name`, "SIGHUP"}},
		"uncatchable signal": {map[string]string{AnnotationExec: "true", AnnotationExecOnChange: "signal:KILL"}, nil,
			[]string{AnnotationExecOnChange, "SIGKILL cannot be caught", "use restart"}},
		"signal number": {map[string]string{AnnotationExec: "true", AnnotationExecOnChange: "signal:1"}, nil,
			[]string{AnnotationExecOnChange, "not a signal name"}},
		"unknown action": {map[string]string{AnnotationExec: "true", AnnotationExecOnChange: "reload"}, nil,
			[]string{AnnotationExecOnChange, `"reload" is not an on-change action`}},
		"bad grace period": {map[string]string{AnnotationExec: "true", AnnotationExecOnChange: "restart", AnnotationExecGracePeriod: "1h"}, nil,
			[]string{AnnotationExecGracePeriod, "longer than 10m0s"}},
		"bad exec value": {map[string]string{AnnotationExec: "yes"}, nil, []string{AnnotationExec, "not a boolean"}},
		"containers with exec false": {map[string]string{AnnotationExec: "false", AnnotationExecContainers: "app"}, nil,
			[]string{AnnotationExecContainers, `is "false"`}},
		"settings without exec": {map[string]string{AnnotationExecOnChange: "restart"}, nil,
			[]string{AnnotationExecOnChange, "does not ask for", AnnotationExec}},
		"container not mounted": {map[string]string{AnnotationContainers: "app", AnnotationExecContainers: "sidecar"}, nil,
			[]string{AnnotationExecContainers, `not mounted into a container named "sidecar"`, "[app]"}},
		"unknown container": {map[string]string{AnnotationExecContainers: "worker"}, nil,
			[]string{AnnotationExecContainers, `"worker"`}},
		"init container": {map[string]string{AnnotationExecContainers: "migrate"}, nil,
			[]string{AnnotationExecContainers, `"migrate" is an init container`}},
		"mount path is the wrapper's": {map[string]string{AnnotationExec: "true", AnnotationMountPath: execcontract.BinDir + "/s"}, nil,
			[]string{AnnotationMountPath, "overlaps " + execcontract.BinDir}},
		"already wrapped": {map[string]string{AnnotationExec: "true"}, func(p *corev1.Pod) {
			p.Spec.Containers[0].Command = execcontract.Command(execcontract.Binary, []string{"/app/server"})
		}, []string{AnnotationExec, "already runs the exec wrapper"}},
		"variable set by the pod": {map[string]string{AnnotationExec: "true"}, func(p *corev1.Pod) {
			p.Spec.Containers[1].Env = []corev1.EnvVar{{Name: execcontract.EnvEnvFrom, Value: "/x"}}
		}, []string{AnnotationExec, `container "sidecar" sets ` + execcontract.EnvEnvFrom}},
		"volume at the wrapper's path": {map[string]string{AnnotationExec: "true"}, func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "cache", MountPath: execcontract.BinDir})
		}, []string{AnnotationExec, `mounts volume "cache" at ` + execcontract.BinDir}},
	}
	for _, mode := range []Mode{ModeCSI, ModeInit} {
		for name, tc := range cases {
			t.Run(string(mode)+"/"+name, func(t *testing.T) {
				ann := map[string]string{AnnotationMode: string(mode)}
				for k, v := range tc.ann {
					ann[k] = v
				}
				p := withCommands(testPod(ann))
				if tc.change != nil {
					tc.change(p)
				}
				_, outcome, err := Mutate(context.Background(), p, "apps", testConfig(), testLookups())
				if tc.want == nil { // the control: admitted
					if err != nil || outcome != Mutated {
						t.Fatalf("want the pod mutated, got %q %v", outcome, err)
					}
					return
				}
				if !errors.As(err, new(*DeniedError)) {
					t.Fatalf("want a denial, got %v", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("denial %q does not contain %q", err, w)
					}
				}
			})
		}
	}
}

// TestExecCommandKeepsArgv: the wrapped container runs exactly the argv the
// kubelet would have run (command, then args), after the wrapper's "--".
func TestExecCommandKeepsArgv(t *testing.T) {
	for name, tc := range map[string]struct {
		command, args []string
	}{
		"command and args":                    {[]string{"/bin/sh", "-c"}, []string{`echo "$DB_PASSWORD"`, "--", "-x"}},
		"command alone":                       {[]string{"/app/server", "--flag=$(POD_NAME)"}, nil},
		"args look like flags of the wrapper": {[]string{"/app/server"}, []string{"--env-from", "/etc", "--on-change", "restart"}},
	} {
		t.Run(name, func(t *testing.T) {
			p := withCommands(testPod(map[string]string{AnnotationExecContainers: "app"}))
			p.Spec.Containers[0].Command, p.Spec.Containers[0].Args = tc.command, tc.args
			out, outcome, err := Mutate(context.Background(), p, "apps", testConfig(), testLookups())
			if err != nil || outcome != Mutated {
				t.Fatalf("%q %v", outcome, err)
			}
			c := out.Spec.Containers[0]
			want := append(append([]string{execcontract.Binary, execcontract.Subcommand, "--"}, tc.command...), tc.args...)
			if !slices.Equal(c.Command, want) || c.Args != nil {
				t.Errorf("command %q args %q, want command %q and no args", c.Command, c.Args, want)
			}
			if i := envIndex(c.Env, execcontract.EnvEnvFrom); i < 0 || c.Env[i].Value != DefaultMountPath {
				t.Errorf("env %+v: want %s=%s", c.Env, execcontract.EnvEnvFrom, DefaultMountPath)
			}
			// The sidecar is not wrapped.
			if s := out.Spec.Containers[1]; !slices.Equal(s.Command, p.Spec.Containers[1].Command) || len(s.Env) != 0 {
				t.Errorf("sidecar changed: %q %+v", s.Command, s.Env)
			}
		})
	}
}

// TestExecBinaryNeverWritableInApp: in every mutated exec pod the wrapper's
// volume is mounted read-only in each app container that mounts it, and
// writable only in the copy init container, which runs the image's CLI
// without a shell.
func TestExecBinaryNeverWritableInApp(t *testing.T) {
	n := 0
	for _, tc := range goldenCases() {
		if !strings.HasPrefix(tc.name, "exec-") {
			continue
		}
		n++
		cfg := testConfig()
		if tc.cfg != nil {
			tc.cfg(&cfg)
		}
		out, _, err := Mutate(context.Background(), tc.pod, tc.ns, cfg, testLookups())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		vol := out.Spec.Volumes[len(out.Spec.Volumes)-1]
		if vol.EmptyDir == nil || !strings.HasPrefix(vol.Name, ExecVolumeName) {
			t.Fatalf("%s: last volume %+v is not the wrapper's emptyDir", tc.name, vol)
		}
		wrapped := 0
		for _, c := range out.Spec.Containers {
			for _, m := range c.VolumeMounts {
				if m.Name == vol.Name {
					wrapped++
					if !m.ReadOnly || m.MountPath != execcontract.BinDir {
						t.Errorf("%s: container %s mounts the wrapper %+v", tc.name, c.Name, m)
					}
					if len(c.Command) == 0 || c.Command[0] != execcontract.Binary {
						t.Errorf("%s: container %s mounts the wrapper but runs %q", tc.name, c.Name, c.Command)
					}
				}
			}
		}
		if wrapped == 0 {
			t.Errorf("%s: no container mounts the wrapper", tc.name)
		}
		writers := 0
		for _, c := range out.Spec.InitContainers {
			for _, m := range c.VolumeMounts {
				if m.Name == vol.Name {
					writers++
					if c.Command[0] != execcontract.ImageBinary || !slices.Equal(c.Args, execcontract.InstallArgs(execcontract.BinDir)) ||
						c.SecurityContext == nil || !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation {
						t.Errorf("%s: copy container %s: %q %q %+v", tc.name, c.Name, c.Command, c.Args, c.SecurityContext)
					}
				}
			}
		}
		if writers != 1 || out.Spec.InitContainers[0].VolumeMounts[0].Name != vol.Name {
			t.Errorf("%s: %d init containers write the wrapper's volume; want one, first", tc.name, writers)
		}
	}
	if n < 4 {
		t.Fatalf("only %d exec golden cases", n)
	}
}

func TestExecWarnings(t *testing.T) {
	for name, tc := range map[string]struct {
		ann  map[string]string
		want string // "" for no warning
	}{
		"signal in init mode without refresh": {map[string]string{AnnotationMode: "init", AnnotationExecOnChange: "signal:SIGHUP"},
			AnnotationExecOnChange + ": signal:SIGHUP does nothing in init mode without " + AnnotationRefresh},
		"restart in init mode with refresh": {map[string]string{AnnotationMode: "init", AnnotationRefresh: "true", AnnotationExecOnChange: "restart"}, ""},
		"restart in csi mode":               {map[string]string{AnnotationExecOnChange: "restart", AnnotationExecGracePeriod: "20s"}, ""},
		"grace period without restart":      {map[string]string{AnnotationExecGracePeriod: "20s"}, AnnotationExecGracePeriod + ": does nothing without"},
	} {
		t.Run(name, func(t *testing.T) {
			ann := map[string]string{AnnotationExec: "true"}
			for k, v := range tc.ann {
				ann[k] = v
			}
			_, outcome, warns, err := MutateWithWarnings(context.Background(), withCommands(testPod(ann)), "apps", testConfig(), testLookups())
			if err != nil || outcome != Mutated {
				t.Fatalf("%q %v", outcome, err)
			}
			got := strings.Join(warns, "\n")
			if tc.want == "" && len(warns) != 0 || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("warnings %q, want %q", warns, tc.want)
			}
		})
	}
}
