// Package envexec owns `aws-secrets-injector exec`, the exec wrapper: for
// apps that read their secrets from the environment (DB_PASSWORD) and for
// apps that must learn that a rotation happened. It reads a file set,
// sets one environment variable per file, and either execve(2)s the app
// (so the PID, the signals, the descriptors and the exit code are the app's
// own) or stays its parent to signal or restart it when the set changes.
// Values travel only through the environment of the exec'd process: never in
// an argument (so never in /proc/<pid>/cmdline of the wrapper or the app),
// never in a log line or an error, and never in a Kubernetes object.
//
// # Where the set comes from
//
//   - --env-from DIR ($AWS_SECRETS_INJECTOR_EXEC_ENV_FROM): a directory the
//     atomic writer (secrets/atomicdir) fills: the CSI mount (csi mode) or the
//     memory emptyDir (init mode). It is read through one generation: ..data
//     is resolved before and after reading below it, and a swap in between
//     reads again (at most 5 times), so the app never gets a mix of two
//     sets. A directory without a complete set (atomicdir.Verify) is an exit
//     with one line; so is an unreadable file.
//   - --spc FILE, or the parameters in $AWS_SECRETS_INJECTOR_SPC (the
//     init-mode contract's variable and encoding, injector/contract): the
//     wrapper fetches the class itself with the process's own identity,
//     through the core's pipeline (pipeline.NewOwn, shared with the
//     injector), and writes nothing. The first fetch has 2 minutes (the
//     SDK retries throttling and 5xx within it); a failure exits, and the
//     kubelet's restart back-off is the retry.
//
// # Names
//
// contract.DeriveName maps a file path to a variable name: ASCII letters
// are upper-cased, digits and '_' are kept, '-', '.' and '/' become '_';
// any other byte has no mapping, and a result that starts with a digit is
// not a name: both are errors whose fix is an explicit mapping, --env
// FILE=NAME (repeatable; $AWS_SECRETS_INJECTOR_EXEC_ENV holds
// "FILE=NAME,FILE=NAME"), where NAME "-" leaves the file out. PATH, LD_*
// and AWS_SECRETS_INJECTOR_* can never be set from a file (a secret must
// not choose the code the app runs). Two files mapping to one name, a
// mapping naming an absent file, or more than secrets.MaxFiles variables is
// an error naming the files (contract.Bind, which the webhook runs at
// admission with the names it can know). A file's variable replaces a
// variable of the same name the container already has (logged, by name).
// The wrapper removes every AWS_SECRETS_INJECTOR_* variable from the app's
// environment.
//
// # Bounds
//
// A value is at most secrets.MaxValueBytes (64 KiB) and may not hold a NUL
// byte (execve cannot carry one). The whole exec — the path, the
// arguments, the environment, each string with its NUL and one 8-byte
// pointer each — must fit the kernel's budget: a quarter of RLIMIT_STACK
// (2 MiB with the default 8 MiB stack), at most 6 MiB, at least 128 KiB
// (fs/exec.c); one variable at most 128 KiB (MAX_ARG_STRLEN). ExecBudget and
// ExecSize compute it, and a test checks the sum against the kernel itself:
// a set exactly at the budget execs, one byte more fails with E2BIG. The
// wrapper refuses such a set before exec, naming the sizes. (A script's
// "#!" line makes the kernel add the interpreter's path and name, a few
// bytes the check cannot see.)
//
// # Exit codes
//
// The app's own, or 128+n when signal n killed it (supervising); the
// wrapper's own failures use env(1)'s codes: 125 the set or the options
// (nothing was started), 126 the command cannot be executed, 127 not found.
//
// # On change (--on-change, $AWS_SECRETS_INJECTOR_EXEC_ON_CHANGE)
//
//   - none (default): execve; nothing watches.
//   - signal:NAME (contract.ParseSignal: SIGHUP or HUP, any case; SIGKILL,
//     SIGSTOP, the fault, job-control and SIGCHLD/SIGPIPE/SIGURG signals are
//     refused): the wrapper starts the app as its child and sends it NAME once
//     per real change. The app's environment cannot change under it: it
//     must re-read the files (so this needs --env-from).
//   - restart: on a change, SIGTERM, then SIGKILL after the grace period
//     (--grace-period, default 10s), then the app again with the new
//     environment. The container does not restart, so the pod's restart
//     count stays put; the app's PID changes. With the fetch source the set
//     is fetched every --refresh-interval (the class's refreshInterval, else
//     2m).
//
// A real change is a swap of ..data to a generation whose content (paths,
// modes, bytes) differs from the last one acted on; a burst of swaps within
// a second is read once (debounced, at most 5 s). A failed refresh never
// swaps ..data (the writer's commit point is that rename, and a failure
// before it removes what it created), so it is never acted on; a changed
// set that does not map to an environment (a collision, a bound) is logged
// and the app keeps running. Watching uses inotify on the directory (the
// rename onto ..data), backed by a readlink poll every 30 s, or every 2 s
// when inotify is unavailable (fs.inotify.max_user_instances is per user
// and node: a busy node can run out, and failing the app for it would be
// worse than a delay); both work on a read-only mount.
//
// Supervising, the wrapper forwards every signal of Forwarded to the app
// (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2, SIGWINCH, ...), passes its
// own standard input, output and error to it (the same descriptors, no
// copy), reaps it and every orphan handed to it (it is PID 1 of the
// container), and exits with the app's code; a wrapper that is not PID 1
// and dies takes the app with it, as PID 1's death does (PR_SET_PDEATHSIG;
// not for an app that execs a set-user-ID binary such as gosu, for which
// Linux drops it).
// Because it reaps every child,
// an AWS config credential_process (a child the SDK waits for itself) does
// not work with the fetch source when supervising; IRSA, Pod Identity and
// the instance profile need no child. After a SIGTERM it starts no
// app again. The app shares the wrapper's process group: a terminal's ^C
// reaches both, so the app also gets the forwarded copy.
//
// # Contract for the webhook
//
// The constants and the checks are in package envexec/contract (a leaf);
// the webhook renders:
//
//  1. A volume "aws-secrets-injector-bin": emptyDir (default medium: the
//     lean cmd/asi-exec is about 12 MB, which a memory emptyDir would charge
//     to the pod's memory limit; it holds no secret, and what protects it
//     is the read-only mount).
//  2. An init container, first, running the webhook's own image:
//     command [contract.ImageBinary] ("/asi-exec"), args contract.InstallArgs(BinDir)
//     = ["exec", "--install", "/aws-secrets-injector-bin"], the volume
//     mounted read-write at contract.BinDir, non-root, read-only root
//     filesystem, all capabilities dropped. Install copies /proc/self/exe
//     (static, CGO_ENABLED=0: it runs in any image) to
//     /aws-secrets-injector-bin/asi-exec, mode 0555, through a
//     temporary file renamed into place.
//  3. In each wrapped container: the volume mounted readOnly: true at
//     contract.BinDir. Never writable: a writable copy would turn an app's
//     file-write bug into code execution as the container's first process
//     at its next start (vault-secrets-webhook #724).
//  4. The command rewritten to contract.Command(contract.Binary, argv):
//     ["/aws-secrets-injector-bin/asi-exec", "exec", "--",
//     <command...>, <args...>], args removed. A container without command
//     runs its image's ENTRYPOINT, which the pod spec does not show: deny it
//     with a message asking for command (or resolve the entrypoint).
//  5. The variables of contract.Vars.List on the container:
//     AWS_SECRETS_INJECTOR_EXEC_ENV_FROM = the secrets mount path in that
//     container (csi or init), and, from the annotations,
//     AWS_SECRETS_INJECTOR_EXEC_ENV, _ON_CHANGE, _GRACE_PERIOD.
//
// Annotations (checked at admission with the wrapper's own parsers, so a
// pod admitted is a pod whose wrapper starts): aws-secrets-injector.io/exec
// "true" (wrap every container the secrets are mounted into), exec-containers
// (a comma list; implies exec), exec-env ("file=NAME,...",
// contract.ParseEnvMap, then contract.Bind with the class's file names when
// they are all known, i.e. no allKeys), exec-on-change
// (contract.ParseOnChange: an unknown signal name is denied) and
// exec-grace-period (contract.ParseGracePeriod). A grace period longer than
// the pod's terminationGracePeriodSeconds is allowed but pointless.
//
// For apps that read plain files and only need a nudge, without the
// wrapper, the native sidecar (init mode with refresh) can signal them
// itself when the pod sets shareProcessNamespace: see package injector.
package envexec
