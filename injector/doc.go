// Package injector owns `asi-inject` (also `aws-secrets-injector inject`), the
// in-pod half of init mode: it runs inside the user's pod as an init container (one-shot) or as a
// native sidecar (init container with restartPolicy: Always, refreshing), reads
// the SecretProviderClass parameters the webhook resolved at admission from its
// environment, fetches them with the pod's own default AWS credential chain
// (IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE; EKS Pod Identity:
// AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
// else the instance profile) and writes the file set with the shared core's
// atomic writer (secrets/atomicdir) into a medium: Memory emptyDir.
//
// # Environment contract (webhook → inject), version 1
//
// The webhook renders these variables on the injector container; inject reads
// them (flags override the optional ones):
//
//	AWS_SECRETS_INJECTOR_SPC               required  spec.parameters of the SecretProviderClass as a compact
//	                                                 JSON object of strings, keys sorted (EncodeSpec), e.g.
//	                                                 {"objects":"- objectName: my-app/db\n  objectType: secretsmanager\n","region":"us-east-1"}
//	AWS_SECRETS_INJECTOR_SPC_NAME          optional  "namespace/name" of the class, for messages only
//	AWS_SECRETS_INJECTOR_MOUNT_PATH        required  absolute path of the emptyDir in this container (--mount-path)
//	AWS_SECRETS_INJECTOR_REFRESH_INTERVAL  optional  Go duration; unset/""/"0" = one-shot (--refresh-interval)
//	AWS_SECRETS_INJECTOR_DEADLINE          optional  Go duration, default 2m: time to write the first complete
//	                                                 set, transient AWS errors retried within it (--deadline)
//	AWS_SECRETS_INJECTOR_NOTIFY_SIGNAL     optional  with a refresh interval: signal the app after each refresh
//	                                                 that changed the set (--notify-signal; see Signalling the app)
//	AWS_SECRETS_INJECTOR_NOTIFY_COMMAND    optional  the app's command name to signal (--notify-command)
//
// Env.Vars renders them in this order (optional ones omitted when unset) and
// DecodeEnv reads them; every decoding error names the variable. Because the
// parameters are resolved at admission, the pod's service account needs no
// Kubernetes RBAC. The contract evolves by adding variables; a variable whose
// encoding had to change incompatibly would get a new name, so a container
// rendered by an older webhook keeps working with a newer image. Unknown
// AWS_SECRETS_INJECTOR_* variables are ignored.
//
// # Behaviour
//
// One-shot (refresh interval 0): parse the parameters (spc.Parse, default
// region from the SDK configuration), get credentials, fetch (secrets/awsfetch),
// extract (secrets/extract) and write atomically; exit 0. Any failure returns an
// *Error whose message is one line — the class, the object and field or the AWS
// error, and the fix — and nothing is written. Transient failures (throttling,
// 5xx, network) are retried with jittered exponential backoff until the
// deadline; permanent ones (invalid class, not found, access denied, decryption,
// bad value) fail at once.
//
// Refresh (interval > 0, a native sidecar): the first fill behaves as one-shot
// (a failure exits non-zero, so the kubelet restarts the sidecar and the pod
// stays in Init with the message). Then it refreshes every interval ± jitter,
// swaps the files only when something changed, keeps the old files when a
// refresh fails (logged, structured, without values) and returns nil when the
// context is cancelled (SIGTERM).
//
// The container runs the image's entrypoint, the lean injector /asi-inject
// (contract.DefaultBinary: no Kubernetes client, gRPC or cobra linked), with
// args ["inject"] (Subcommand); the full CLI /aws-secrets-injector beside it
// runs the same args the same way.
// Besides the contract, the webhook passes the standard AWS variables it is
// configured with (AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS for a
// custom or test endpoint; AWS_STS_REGIONAL_ENDPOINTS) and, for IRSA,
// AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and the projected token volume
// when the EKS pod-identity webhook did not: the SDK reads them all.
//
// # Signalling the app
//
// An app that reads the files itself but must be told of a rotation (nginx,
// HAProxy, Envoy reloading certificates on SIGHUP) needs no exec wrapper:
// with --notify-signal and --notify-command (annotations notify-signal and
// notify-command, AnnotationNotifySignal and AnnotationNotifyCommand) the
// native sidecar sends the signal after each refresh whose write changed
// the set, once per change, never after a failed or unchanged refresh,
// never for the first fill (the app is not started yet). It finds the app in
// /proc (NotifyTargets): the processes named command, by comm (kept when an
// app rewrites its argv, as nginx does; the kernel keeps 15 bytes) or by
// argv[0]'s base name, other than itself and PID 1, and of those only the
// top of each tree (a master, not its workers of the same name). A name is
// what the pod spec's author knows; the PID of the app container's first
// process is not knowable from inside another container (PIDs are not per
// container in a shared namespace, and the container's cgroup path is the
// runtime's). It needs the pod's shareProcessNamespace: true (one PID
// namespace for the pod, the pause process as PID 1; the webhook denies the
// annotations without it, never turning it on itself: it also shows every
// container's processes to the others) and the right to signal the app: the
// app's uid (runAsUser) or CAP_KILL. A process it cannot find or signal is
// logged with the fix; the refresh does not fail for it.
//
// # Startup probe
//
// A native sidecar counts as started as soon as its process runs, so the
// webhook must render a startupProbe that holds the app containers back until
// the first fill is complete (ProbeCommand, ProbeFailureThreshold):
//
//	startupProbe:
//	  exec:
//	    command: ["/asi-inject", "inject", "--check"]
//	  periodSeconds: 1
//	  failureThreshold: 130   # ProbeFailureThreshold(deadline, 1): deadline + 10 s
//
// `inject --check` reads only the mount path (the container's
// AWS_SECRETS_INJECTOR_MOUNT_PATH, or --mount-path) and exits 0 when
// <mount path>/..data is a link to a directory, i.e. a complete set has been
// swapped in; else it prints one "not ready" line and exits 1. It never
// contacts AWS. A one-shot init container needs no probe: the kubelet starts the
// next container only after it exited 0.
//
// # Container constraints
//
// inject runs as non-root with a read-only root filesystem and every capability
// dropped: it writes only inside the mount path (the atomic writer's generation
// directories and links) and creates no temporary files elsewhere. When the
// mount path has the set-group-ID bit (an emptyDir of a pod with fsGroup) and
// the process is a member of that group, files are given that group, so an app
// running as another user in the group can read 0640 files. The webhook should
// also render terminationMessagePolicy: FallbackToLogsOnError so that the one
// error line shows up in the pod's status.
package injector
