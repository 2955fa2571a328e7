package contract

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

func TestDeriveName(t *testing.T) {
	for in, want := range map[string]string{
		"db-user":          "DB_USER",
		"db-password":      "DB_PASSWORD",
		"DB_Password":      "DB_PASSWORD",
		"tls/ca.crt":       "TLS_CA_CRT",
		".env":             "_ENV",
		"a1":               "A1",
		"_x":               "_X",
		"my-app.db/user-2": "MY_APP_DB_USER_2",
	} {
		got, err := DeriveName(in)
		if err != nil || got != want {
			t.Errorf("DeriveName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"2fa-seed":                           "starts with a digit",
		"db user":                            `the character ' '`,
		"pässword":                           `the character 'ä'`,
		"a+b":                                `the character '+'`,
		"key:1":                              `the character ':'`,
		"path":                               "reserved",
		"ld-preload":                         "dynamic loader",
		"LD_LIBRARY_PATH":                    "dynamic loader",
		"aws-secrets-injector-exec-env-from": "injector's own contract",
		"":                                   "empty",
	} {
		_, err := DeriveName(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DeriveName(%q) = %v; want an error containing %q", in, err, want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"PGPASSWORD", "pg_password", "_", "A9"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "9A", "A-B", "A B", "A=B", "PATH", "LD_PRELOAD", "AWS_SECRETS_INJECTOR_SPC", "Ä"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
}

func TestParseMapping(t *testing.T) {
	m, err := ParseEnvMap(AnnotationExecEnv, " db-password=PGPASSWORD, db-user=PGUSER,,tls/key.pem=- ")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m["db-password"] != "PGPASSWORD" || m["db-user"] != "PGUSER" || m["tls/key.pem"] != Skip {
		t.Errorf("got %v", m)
	}
	if m, err := ParseEnvMap(EnvEnv, ""); err != nil || len(m) != 0 {
		t.Errorf("empty: %v %v", m, err)
	}
	for in, want := range map[string]string{
		"db-password":             "no '='",
		"=PGPASSWORD":             "no file name",
		"db-password=9X":          "not a variable name",
		"db-password=PATH":        "reserved",
		"a=X,a=Y":                 "mapped twice",
		"../etc/passwd=X":         "..",
		"/abs=X":                  "absolute",
		"db-password=PG PASSWORD": "not a variable name",
	} {
		_, err := ParseEnvMap(AnnotationExecEnv, in)
		var p *secrets.Problem
		if !errors.As(err, &p) || p.Field != AnnotationExecEnv || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "fix: ") {
			t.Errorf("ParseEnvMap(%q) = %v; want a Problem for %s containing %q and a fix", in, err, AnnotationExecEnv, want)
		}
	}
	many := make([]string, MaxMapEntries+1)
	for i := range many {
		many[i] = fmt.Sprintf("f%d=V%d", i, i)
	}
	if _, err := ParseMapping("--env", many); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("no bound on entries: %v", err)
	}
}

func TestBind(t *testing.T) {
	b, err := Bind("/mnt/secrets-store", []string{"db-user", "db-password", "db-port", "tls/ca.crt", "keystore"},
		map[string]string{"db-password": "PGPASSWORD", "keystore": Skip})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(b)
	want := "[{db-port DB_PORT} {db-user DB_USER} {db-password PGPASSWORD} {tls/ca.crt TLS_CA_CRT}]"
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestBindErrorsNameTheFiles(t *testing.T) {
	cases := []struct {
		name     string
		files    []string
		explicit map[string]string
		want     []string
	}{
		{"derived collision", []string{"db-user", "db_user"}, nil, []string{`"db-user"`, `"db_user"`, "DB_USER", "fix: "}},
		{"case collision", []string{"Token", "token"}, nil, []string{`"Token"`, `"token"`, "TOKEN"}},
		{"dot and dash", []string{"a.b", "a-b"}, nil, []string{`"a-b"`, `"a.b"`, "A_B"}},
		{"explicit onto derived", []string{"db-user", "user"}, map[string]string{"user": "DB_USER"}, []string{`"db-user"`, `"user"`, "DB_USER"}},
		{"two explicit", []string{"a", "b"}, map[string]string{"a": "X", "b": "X"}, []string{`"a"`, `"b"`, " X"}},
		{"unmappable", []string{"db user"}, nil, []string{`"db user"`, "--env FILE=NAME"}},
		{"absent file", []string{"a"}, map[string]string{"b": "B"}, []string{`"b"`, "does not hold"}},
		{"several", []string{"1a", "2b"}, nil, []string{`"1a"`, "and 1 more problems"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Bind("/mnt/s", c.files, c.explicit)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			if !strings.HasPrefix(msg, "/mnt/s: ") || strings.Contains(msg, "\n") {
				t.Errorf("message should name the source and be one line: %q", msg)
			}
		})
	}
	// Fixing the collision with an explicit mapping makes it pass.
	if _, err := Bind("/mnt/s", []string{"db-user", "db_user"}, map[string]string{"db_user": "DB_USER_2"}); err != nil {
		t.Errorf("explicit mapping should resolve the collision: %v", err)
	}
	tooMany := make([]string, secrets.MaxFiles+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("f%d", i)
	}
	if _, err := Bind("/mnt/s", tooMany, nil); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("no bound on variables: %v", err)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"SIGHUP": syscall.SIGHUP, "HUP": syscall.SIGHUP, "sighup": syscall.SIGHUP, " usr1 ": syscall.SIGUSR1,
		"SIGUSR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "SIGWINCH": syscall.SIGWINCH, "quit": syscall.SIGQUIT,
	} {
		name, sig, err := ParseSignal("f", in)
		if err != nil || sig != want || name != "SIG"+strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(in)), "SIG") {
			t.Errorf("ParseSignal(%q) = %q %v %v; want %v", in, name, sig, err, want)
		}
	}
	for in, want := range map[string]string{
		"SIGKILL": "cannot be caught", "stop": "cannot be caught", "SIGSEGV": "fault", "CHLD": "children",
		"SIGFOO": "not a signal name", "1": "not a signal name", "": "no signal name", "SIGRTMIN": "not a signal name",
	} {
		_, _, err := ParseSignal(AnnotationExecOnChange, in)
		var p *secrets.Problem
		if !errors.As(err, &p) || p.Field != AnnotationExecOnChange || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "SIGHUP") {
			t.Errorf("ParseSignal(%q) = %v; want a Problem containing %q and the accepted names", in, err, want)
		}
	}
}

func TestParseOnChange(t *testing.T) {
	for in, want := range map[string]string{"": "none", "none": "none", "restart": "restart", "signal:HUP": "signal:SIGHUP", "signal:sigusr1": "signal:SIGUSR1"} {
		oc, err := ParseOnChange("f", in)
		if err != nil || oc.String() != want {
			t.Errorf("ParseOnChange(%q) = %v %v; want %s", in, oc, err, want)
		}
	}
	oc, _ := ParseOnChange("f", "signal:SIGUSR2")
	if oc.Action != ActionSignal || oc.Signal != syscall.SIGUSR2 {
		t.Errorf("got %+v", oc)
	}
	for _, bad := range []string{"signal:", "signal:KILL", "signal:NOPE", "reload", "Restart", "signal"} {
		if _, err := ParseOnChange(EnvOnChange, bad); err == nil || !strings.HasPrefix(err.Error(), EnvOnChange+": ") {
			t.Errorf("ParseOnChange(%q) = %v; want an error naming %s", bad, err, EnvOnChange)
		}
	}
}

func TestParseDurations(t *testing.T) {
	if d, err := ParseGracePeriod("f", ""); err != nil || d != DefaultGracePeriod {
		t.Errorf("default grace: %v %v", d, err)
	}
	if d, err := ParseGracePeriod("f", "3s"); err != nil || d != 3*time.Second {
		t.Errorf("3s: %v %v", d, err)
	}
	for _, bad := range []string{"x", "0s", "-1s", "11m"} {
		if _, err := ParseGracePeriod("f", bad); err == nil {
			t.Errorf("grace %q accepted", bad)
		}
	}
	if d, err := ParseRefreshInterval("f", ""); err != nil || d != 0 {
		t.Errorf("unset refresh: %v %v", d, err)
	}
	for _, bad := range []string{"x", "1s", "-5m"} {
		if _, err := ParseRefreshInterval("f", bad); err == nil {
			t.Errorf("refresh %q accepted", bad)
		}
	}
}

func TestCommandAndVars(t *testing.T) {
	got := Command(Binary, []string{"/app/server", "--port", "8080"})
	want := []string{"/aws-secrets-injector-bin/asi-exec", "exec", "--", "/app/server", "--port", "8080"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Command = %q", got)
	}
	if got := InstallArgs(BinDir); fmt.Sprint(got) != "[exec --install /aws-secrets-injector-bin]" {
		t.Errorf("InstallArgs = %q", got)
	}
	vars, err := Vars{EnvFrom: "/mnt/secrets-store", OnChange: "signal:HUP"}.List()
	if err != nil || fmt.Sprint(vars) != "[[AWS_SECRETS_INJECTOR_EXEC_ENV_FROM /mnt/secrets-store] [AWS_SECRETS_INJECTOR_EXEC_ON_CHANGE signal:HUP]]" {
		t.Errorf("Vars = %v %v", vars, err)
	}
	for _, bad := range []Vars{{EnvFrom: "rel"}, {EnvFrom: "/m", OnChange: "signal:KILL"}, {EnvFrom: "/m", Env: "x"}, {EnvFrom: "/m", GracePeriod: "0"}} {
		if _, err := bad.List(); err == nil {
			t.Errorf("Vars %+v accepted", bad)
		}
	}
}
