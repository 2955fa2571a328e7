package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
)

type codeErr struct{ code int }

func (e codeErr) Error() string { return fmt.Sprintf("code %d", e.code) }
func (e codeErr) ExitCode() int { return e.code }

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("plain"), 1},
		{codeErr{3}, 3},
		{fmt.Errorf("wrapped: %w", codeErr{4}), 4},
		{&UsageError{errors.New("bad flag")}, 2},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestExitPrintsOneErrorLine(t *testing.T) {
	var b bytes.Buffer
	if code := exit(&b, codeErr{5}); code != 5 || b.String() != "error: code 5\n" {
		t.Errorf("exit = %d, printed %q", code, b.String())
	}
	b.Reset()
	if code := exit(&b, errors.New("")); code != 1 || b.Len() != 0 {
		t.Errorf("an empty message should print nothing: exit %d, printed %q", code, b.String())
	}
	b.Reset()
	if code := exit(&b, nil); code != 0 || b.Len() != 0 {
		t.Errorf("nil: exit %d, printed %q", code, b.String())
	}
}

func TestLogOptions(t *testing.T) {
	for _, o := range []LogOptions{{Format: "xml"}, {Format: "text", Verbosity: -1}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	var b bytes.Buffer
	o := LogOptions{Format: "json", Verbosity: 1}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	log := logr.FromContextOrDiscard(o.Into(context.Background(), &b))
	log.V(1).Info("shown", "k", "v")
	log.V(2).Info("hidden")
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["k"] != "v" {
		t.Errorf("want one JSON record of the V(1) line, got %q (%v)", b.String(), err)
	}
}

// testRole is a role with one flag whose Run records what it saw.
func testRole(runs *int, got *string, logs *logr.Logger) Role {
	var value string
	return Role{
		Binary: "asi-test",
		Name:   "test",
		Short:  "Test the lean front end",
		AddFlags: func(fs *pflag.FlagSet) {
			fs.StringVar(&value, "value", "default", "a value")
		},
		Run: func(ctx context.Context) error {
			*runs++
			*got = value
			*logs = logr.FromContextOrDiscard(ctx)
			if value == "fail" {
				return errors.New("run failed")
			}
			return nil
		},
	}
}

func TestRoleExecute(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		runs      int
		value     string
		code      int
		errSubstr string
	}{
		{args: nil, runs: 1, value: "default"},
		{args: []string{"test"}, runs: 1, value: "default"},
		{args: []string{"test", "--value=x"}, runs: 1, value: "x"},
		{args: []string{"--value", "y"}, runs: 1, value: "y"},
		{args: []string{"--value=fail"}, runs: 1, value: "fail", code: 1, errSubstr: "run failed"},
		{args: []string{"--no-such-flag"}, code: 2, errSubstr: "no-such-flag"},
		{args: []string{"test", "extra"}, code: 2, errSubstr: `unexpected arguments ["extra"]`},
		{args: []string{"--value=x", "test"}, code: 2, errSubstr: `unexpected arguments ["test"]`},
		{args: []string{"--log-format=xml"}, code: 2, errSubstr: "--log-format"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var runs int
			var got string
			var log logr.Logger
			var stdout, stderr bytes.Buffer
			err := testRole(&runs, &got, &log).Execute(context.Background(), tc.args, &stdout, &stderr)
			if code := ExitCode(err); code != tc.code {
				t.Errorf("exit %d, want %d (err %v)", code, tc.code, err)
			}
			if tc.errSubstr != "" && (err == nil || !strings.Contains(err.Error(), tc.errSubstr)) {
				t.Errorf("error %v lacks %q", err, tc.errSubstr)
			}
			if code := ExitCode(err); code == 2 && !strings.Contains(err.Error(), "asi-test --help") && !strings.Contains(err.Error(), "--log-format") {
				t.Errorf("usage error does not point at --help: %v", err)
			}
			if runs != tc.runs || (tc.runs > 0 && got != tc.value) {
				t.Errorf("ran %d times with %q, want %d with %q", runs, got, tc.runs, tc.value)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

func TestRoleHelpAndLogging(t *testing.T) {
	var runs int
	var got string
	var log logr.Logger
	var stdout, stderr bytes.Buffer
	r := testRole(&runs, &got, &log)
	if err := r.Execute(context.Background(), []string{"test", "--help"}, &stdout, &stderr); err != nil || runs != 0 {
		t.Fatalf("--help: err %v, ran %d times", err, runs)
	}
	for _, want := range []string{"Test the lean front end", "asi-test [test] [flags]", "--value", "--log-format", FullCLI} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, stdout.String())
		}
	}
	// The role's logger writes to stderr in the chosen format and verbosity.
	if err := r.Execute(context.Background(), []string{"--log-format=json", "-v=1"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	log.V(1).Info("from the role")
	if !strings.HasPrefix(stderr.String(), "{") || !strings.Contains(stderr.String(), `"msg":"from the role"`) {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestRoleHandOff(t *testing.T) {
	r := Role{Binary: "asi-test", Name: "test"}
	for _, tc := range []struct {
		args   []string
		target string
	}{
		{nil, ""},
		{[]string{"test"}, ""},
		{[]string{"test", "version"}, ""},
		{[]string{"--check"}, ""},
		{[]string{"-v=2", "fetch"}, ""},
		{[]string{"version"}, "version"},
		{[]string{"fetch", "--spc", "x.yaml"}, "fetch"},
		{[]string{"help"}, "help"},
	} {
		target, ok := r.handOff(tc.args)
		if target != tc.target || ok != (tc.target != "") {
			t.Errorf("handOff(%q) = %q, %v; want %q", tc.args, target, ok, tc.target)
		}
	}
}

// TestRoleSetArgs: with SetArgs the role's flags end at the first argument
// that is not one, or at "--", and the rest is the role's own command line,
// its flags included (exec's CMD ARGS).
func TestRoleSetArgs(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		value string
		rest  []string
	}{
		{[]string{"test", "--value=x", "--", "/bin/app", "--value=app's"}, "x", []string{"/bin/app", "--value=app's"}},
		{[]string{"--value=y", "/bin/app", "--port", "80"}, "y", []string{"/bin/app", "--port", "80"}},
		{[]string{"test"}, "default", []string{}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var runs int
			var got string
			var log logr.Logger
			var rest []string
			r := testRole(&runs, &got, &log)
			r.SetArgs = func(a []string) { rest = a }
			if err := r.Execute(context.Background(), tc.args, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			if runs != 1 || got != tc.value || !slices.Equal(rest, tc.rest) {
				t.Errorf("ran %d with %q and args %q, want 1 with %q and %q", runs, got, rest, tc.value, tc.rest)
			}
		})
	}
}
