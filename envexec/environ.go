package envexec

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// Kernel bounds of execve(2) on Linux (fs/exec.c, include/uapi/linux/binfmts.h).
const (
	// maxArgStrlen is MAX_ARG_STRLEN: one argument or "NAME=value" string,
	// its NUL included.
	maxArgStrlen = 32 * 4096
	// argMax is ARG_MAX: the budget the kernel grants whatever the stack
	// limit, however small.
	argMax = 32 * 4096
	// stkLimBudget is 3/4 of _STK_LIM (8 MiB): the budget's ceiling however
	// large (or unlimited) the stack limit.
	stkLimBudget = 8 << 20 / 4 * 3
	// ptrSize is sizeof(void *) on the 64-bit platforms EKS runs.
	ptrSize = 8
)

// ExecBudget is the bytes execve(2) allows this process for the new
// program's file name, arguments and environment together: a quarter of
// the stack limit (RLIMIT_STACK: 8 MiB by default, so 2 MiB), at most 6 MiB,
// at least ARG_MAX (128 KiB). The budget counts every string with its NUL
// and one pointer per argument and variable (ExecSize). The kernel checks
// the same sum against the same limit, so a set ExecSize puts within it
// execs, and one past it would fail with E2BIG: the wrapper refuses it
// first, with a message naming the sizes.
func ExecBudget() int {
	limit := uint64(stkLimBudget)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &rl); err == nil && rl.Cur != unix.RLIM_INFINITY && rl.Cur/4 < limit {
		limit = rl.Cur / 4
	}
	if limit < argMax {
		limit = argMax
	}
	return int(limit)
}

// ExecSize is what execve(2) of path with argv and env takes of the budget.
func ExecSize(path string, argv, env []string) int {
	n := len(path) + 1
	for _, s := range argv {
		n += len(s) + 1
	}
	for _, s := range env {
		n += len(s) + 1
	}
	return n + ptrSize*(max(len(argv), 1)+len(env))
}

// checkExec refuses an exec the kernel would refuse with E2BIG, naming the
// sizes (never a value). budget is ExecBudget().
func checkExec(path string, argv, env []string, budget int) error {
	for _, s := range env {
		if len(s)+1 > maxArgStrlen {
			name, _, _ := strings.Cut(s, "=")
			return fmt.Errorf("variable %s is %d bytes, over the kernel's limit of %d for one variable; fix: read that value as a file (map it to %s)",
				name, len(s), maxArgStrlen-1, contract.Skip)
		}
	}
	for i, s := range argv {
		if len(s)+1 > maxArgStrlen {
			return fmt.Errorf("argument %d of the command is %d bytes, over the kernel's limit of %d for one argument", i, len(s), maxArgStrlen-1)
		}
	}
	if n := ExecSize(path, argv, env); n > budget {
		return fmt.Errorf("the command and its environment take %d bytes, over the kernel's limit of %d for arguments and environment together "+
			"(a quarter of the stack limit, at most 6 MiB); fix: leave large files out of the environment (--%s FILE=%s) and read them as files",
			n, budget, contract.FlagEnv, contract.Skip)
	}
	return nil
}

// environ is the app's environment: base (the wrapper's own) without the
// contract's AWS_SECRETS_INJECTOR_* variables and without the variables
// the bindings set, then one NAME=value per binding in binding order.
// A value over secrets.MaxValueBytes or holding a NUL byte (execve cannot
// carry one) is an error naming the file. overridden lists the base
// variables a file replaced (names only).
func environ(base []string, files []secrets.File, binds []contract.Binding) (env, overridden []string, err error) {
	byPath := make(map[string]secrets.File, len(files))
	for _, f := range files {
		byPath[f.Path] = f
	}
	bound := make(map[string]bool, len(binds))
	for _, b := range binds {
		bound[b.Name] = true
	}
	env = make([]string, 0, len(base)+len(binds))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, contract.EnvPrefix):
		case bound[name]:
			overridden = append(overridden, name)
		default:
			env = append(env, kv)
		}
	}
	for _, b := range binds {
		f, ok := byPath[b.File]
		if !ok {
			return nil, nil, fmt.Errorf("file %s is not in the set", secrets.Quote(b.File))
		}
		v := f.Content.Bytes()
		switch {
		case len(v) > secrets.MaxValueBytes:
			return nil, nil, fmt.Errorf("file %s is %d bytes, more than the %d a variable may hold; fix: leave it out of the environment (--%s %s=%s) and read it as a file",
				secrets.Quote(b.File), len(v), secrets.MaxValueBytes, contract.FlagEnv, b.File, contract.Skip)
		case bytes.IndexByte(v, 0) >= 0:
			return nil, nil, fmt.Errorf("file %s holds a NUL byte, which no environment variable can carry; fix: leave it out of the environment (--%s %s=%s) and read it as a file",
				secrets.Quote(b.File), contract.FlagEnv, b.File, contract.Skip)
		}
		env = append(env, b.Name+"="+string(v))
	}
	return env, overridden, nil
}

// paths lists the paths of files.
func paths(files []secrets.File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}

// sameSet reports whether a and b hold the same paths, modes and contents.
func sameSet(a, b []secrets.File) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[string]secrets.File, len(a))
	for _, f := range a {
		m[f.Path] = f
	}
	for _, f := range b {
		o, ok := m[f.Path]
		if !ok || o.Mode != f.Mode || !o.Content.Equal(f.Content) {
			return false
		}
	}
	return true
}
