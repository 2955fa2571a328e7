package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/cmd/internal/app"
)

// The exit codes reach main through the ExitCode method of the returned error.
func TestValidateCommandExitCodes(t *testing.T) {
	const valid = `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: ok}
spec:
  provider: aws
  parameters:
    region: us-east-1
    objects: "- {objectName: a, objectType: secretsmanager}"
`
	tests := []struct {
		args  []string
		stdin string
		want  int
		out   string
	}{
		{[]string{"validate", "-"}, valid, 0, "SecretProviderClass ok: valid"},
		{[]string{"validate", "-o", "json", "-"}, valid, 0, `"valid": true`},
		{[]string{"validate", "-"}, strings.Replace(valid, "secretsmanager", "secretmanager", 1), 1, "invalid (1 error)"},
		{[]string{"validate", "--strict", "-"}, strings.Replace(valid, "    region: us-east-1\n", "", 1), 1, "1 warning"},
		{[]string{"validate", "--region", "us-east-1", "--strict", "-"}, strings.Replace(valid, "    region: us-east-1\n", "", 1), 0, "valid"},
		{[]string{"validate", "--no-such-flag", "-"}, valid, 2, ""},
		{[]string{"validate"}, valid, 2, ""},
		{[]string{"validate", "-o", "yaml", "-"}, valid, 2, ""},
		{[]string{"validate", "-"}, "a: [", 2, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Setenv("AWS_REGION", "")
			t.Setenv("AWS_DEFAULT_REGION", "")
			root := newRootCommand()
			var out, errb bytes.Buffer
			root.SetArgs(tt.args)
			root.SetIn(strings.NewReader(tt.stdin))
			root.SetOut(&out)
			root.SetErr(&errb)
			err := root.ExecuteContext(context.Background())
			code := app.ExitCode(err)
			if code != tt.want {
				t.Errorf("exit %d, want %d (err %v)\nstdout:\n%s\nstderr:\n%s", code, tt.want, err, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("stdout lacks %q:\n%s", tt.out, out.String())
			}
		})
	}
}
