// Package webhook is the mutating admission webhook of aws-secrets-injector
// (`aws-secrets-injector webhook`): it rewrites annotated pods in opted-in
// namespaces so that their secrets are delivered as files.
//
// The work is split in two, as the house style asks:
//   - Mutate, a pure function over a deep copy of the pod: parse the
//     annotations (ParseAnnotations), check the SecretProviderClass exists and
//     validates (spc.Parse), select containers, check the mount path, then
//     dispatch on the mode to its mutator — csiMutator (csi.go) or initMutator
//     (init.go) —, add the exec wrapper when asked (exec.go), and mark
//     the pod with status: injected;
//   - Handler, a thin admission layer that decodes the request (the review
//     and its pod in one pass with encoding/json/v2, review.go; what v2
//     refuses takes encoding/json), mutates its own decode of the pod
//     after a snapshot (takeSnapshot), and answers with the JSON patch from
//     the snapshot to the mutated pod, computed on the typed values
//     (typedPatch, patch.go).
//
// Which pods are mutated: those whose namespace carries the label
// aws-secrets-injector.io/inject=enabled (namespaceSelector) and that carry
// the annotation aws-secrets-injector.io/inject: "true" (a CEL
// matchCondition, so other pods never reach the webhook; checked again in
// code). Never kube-system, kube-public, the webhook's own namespace, or
// mirror pods. A pod with status: injected, or that already has an inline
// volume of the driver for its class, is left alone (reinvocation is
// idempotent).
//
// In csi mode the refresh annotation changes nothing in the pod: the mounter
// re-fetches on every republish (CSIDriver requiresRepublish) at the class's
// refreshInterval or its own --refresh-interval; a refresh-interval
// annotation is passed to it as the volume attribute refreshInterval.
// init-first only matters in init mode.
//
// # Init mode
//
// mode: init (or --default-mode init) delivers the files without the mounter
// (EKS Fargate): a medium: Memory emptyDir (--injector-volume-size-limit),
// mounted read-only at the mount path in the selected app containers, and an
// init container named aws-secrets-injector running --injector-image with
// args ["inject"] (the injector package: its env contract carries the
// class's parameters resolved at admission, so the pod needs no RBAC). It is
// appended after the pod's own init containers, or put first with
// init-first: "true". With refresh: "true" it is a native sidecar
// (restartPolicy: Always, Kubernetes 1.29+) refreshing every
// refresh-interval (default --injector-refresh-interval), with a startupProbe
// (`inject --check`) that holds the app containers back until the first
// fill; Jobs still complete. With notify-signal and notify-command (and the
// pod's own shareProcessNamespace: true) the sidecar also signals the app
// after each refresh that changed the files (notify.go). Example, with
// defaults and an IRSA ServiceAccount:
//
//	initContainers:
//	- name: aws-secrets-injector
//	  image: <--injector-image>
//	  args: ["inject"]
//	  env:
//	  - {name: AWS_SECRETS_INJECTOR_SPC, value: '{"objects":"...","region":"us-east-1"}'}
//	  - {name: AWS_SECRETS_INJECTOR_SPC_NAME, value: apps/db}
//	  - {name: AWS_SECRETS_INJECTOR_MOUNT_PATH, value: /mnt/secrets-store}
//	  - {name: AWS_REGION, value: ...}               # --injector-aws-region
//	  - {name: AWS_ENDPOINT_URL, value: ...}         # --injector-aws-endpoint, and
//	  - {name: AWS_ENDPOINT_URL_STS, value: ...}     #   for IRSA's STS client
//	  - {name: AWS_ROLE_ARN, value: arn:aws:iam::111122223333:role/my-app}
//	  - {name: AWS_WEB_IDENTITY_TOKEN_FILE, value: /var/run/secrets/eks.amazonaws.com/serviceaccount/token}
//	  resources: {requests: {cpu: 10m, memory: 64Mi}, limits: {memory: 128Mi}}
//	  securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true,
//	    allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}
//	  terminationMessagePolicy: FallbackToLogsOnError
//	  volumeMounts:
//	  - {name: aws-secrets, mountPath: /mnt/secrets-store}
//	  - {name: aws-iam-token, mountPath: /var/run/secrets/eks.amazonaws.com/serviceaccount, readOnly: true}
//
// IRSA does not depend on webhook order: when the ServiceAccount has
// eks.amazonaws.com/role-arn and the container lacks AWS_ROLE_ARN, the
// webhook adds what the EKS pod-identity webhook would (the env above,
// AWS_STS_REGIONAL_ENDPOINTS=regional when the ServiceAccount asks, the
// projected volume aws-iam-token with the ServiceAccount's audience and
// token-expiration), reusing the volume and its mount path, and copying its
// AWS_STS_REGIONAL_ENDPOINTS and region variables from a container it
// mutated, when that webhook ran first; when it runs after, it skips our
// container's role and mount and adds the rest itself, so both orders give
// the same pod. EKS Pod Identity's
// env and token mount are copied from an app container that has them. The
// container runs as 65532 unless the pod sets runAsUser (then the pod's user
// and group apply; root is replaced); fsGroup is never changed.
//
// Init-mode annotations: injector-cpu-request, injector-cpu-limit,
// injector-memory-request, injector-memory-limit (positive quantities, a
// request not above its limit) and injector-deadline (a Go duration, the
// time allowed for the first fill; default --injector-deadline, else the
// injector's 2m). Malformed values deny the pod with the annotation named.
//
// # The exec wrapper
//
// exec: "true" (every container the secrets are mounted into) or
// exec-containers: "app,worker" (a subset of them) runs those containers
// under `aws-secrets-injector exec` (package envexec, whose doc has the whole
// contract), in either mode: the wrapper reads the files at the mount path
// (the CSI mount, or init mode's memory emptyDir after the injector filled
// it), sets one variable per file (db-password is DB_PASSWORD) and execs the
// app. exec.go adds:
//
//	initContainers:                     # first, before the pod's own and the injector
//	- name: aws-secrets-injector-exec
//	  image: <--injector-image>
//	  command: ["/asi-exec"]               # the lean exec binary; no shell in the image
//	  args: ["exec", "--install", "/aws-secrets-injector-bin"]
//	  volumeMounts: [{name: aws-secrets-injector-bin, mountPath: /aws-secrets-injector-bin}]
//	  # resources, securityContext, terminationMessagePolicy as the injector's
//	containers:
//	- name: app
//	  command: ["/aws-secrets-injector-bin/asi-exec", "exec", "--", <command...>, <args...>]
//	  # args: removed (folded into command, as the kubelet appends them)
//	  env:
//	  - {name: AWS_SECRETS_INJECTOR_EXEC_ENV_FROM, value: <mount path>}
//	  - {name: AWS_SECRETS_INJECTOR_EXEC_ENV, value: <exec-env>}                   # when set
//	  - {name: AWS_SECRETS_INJECTOR_EXEC_ON_CHANGE, value: <exec-on-change>}       # when set
//	  - {name: AWS_SECRETS_INJECTOR_EXEC_GRACE_PERIOD, value: <exec-grace-period>} # when set
//	  volumeMounts:
//	  - {name: aws-secrets-injector-bin, mountPath: /aws-secrets-injector-bin, readOnly: true}
//	volumes:
//	- {name: aws-secrets-injector-bin, emptyDir: {}}
//
// The binary's volume is writable only in the copy container: a writable
// copy in the app container would turn an app's file-write bug into code
// execution at its next start. It is an emptyDir of the default medium: the
// binary is no secret, and a memory emptyDir would charge its size to the
// pod's memory. The wrapper removes its AWS_SECRETS_INJECTOR_* variables
// from the app's environment; values reach the app only through it.
//
// Denied at admission, each naming the annotation and the fix: a wrapped
// container without command (its image's ENTRYPOINT is not in the pod spec
// and the webhook never guesses it), one already running the wrapper, one
// that mounts something at /aws-secrets-injector-bin or sets a wrapper
// variable itself; exec-containers naming a container the secrets are not
// mounted into; and every value the wrapper's own parsers refuse
// (envexec/contract): exec-env entries (FILE=NAME, FILE=- to leave a file
// out; a name that is not a variable name or is reserved: PATH, LD_*,
// AWS_SECRETS_INJECTOR_*), exec-on-change ("none", "restart" or
// "signal:NAME"; an unknown signal name, SIGKILL, SIGSTOP, the fault and
// job-control signals), exec-grace-period. contract.Bind then runs over the
// file names the class plans (Spec.Plan): a file whose name maps to no
// variable, two files on one variable (both named) or an exec-env entry for
// a file the class does not produce is a denial. A class with allKeys has
// names known only after the fetch, so for it the wrapper does that check
// at start. The exec settings without exec are denied too (they would do
// nothing); exec-on-change in init mode without refresh, and
// exec-grace-period without restart, are admission warnings.
//
// The MutatingWebhookConfiguration the chart renders (names from values):
//
//	apiVersion: admissionregistration.k8s.io/v1
//	kind: MutatingWebhookConfiguration
//	metadata:
//	  name: aws-secrets-injector                 # --webhook-config-name
//	webhooks:
//	  - name: pods.aws-secrets-injector.io
//	    admissionReviewVersions: ["v1"]
//	    clientConfig:
//	      service: {name: aws-secrets-injector-webhook, namespace: NS, path: /mutate-pods, port: 443}
//	      # caBundle: patched by the webhook (self-managed) or cert-manager.io/inject-ca-from
//	    rules:
//	      - apiGroups: [""]
//	        apiVersions: ["v1"]
//	        operations: ["CREATE"]
//	        resources: ["pods"]
//	        scope: Namespaced
//	    namespaceSelector:
//	      matchExpressions:
//	        - {key: aws-secrets-injector.io/inject, operator: In, values: ["enabled"]}
//	        - {key: kubernetes.io/metadata.name, operator: NotIn, values: [NS, kube-system, kube-public]}
//	    matchConditions:
//	      - name: inject-annotation
//	        expression: >-
//	          has(object.metadata.annotations) &&
//	          'aws-secrets-injector.io/inject' in object.metadata.annotations &&
//	          object.metadata.annotations['aws-secrets-injector.io/inject'] == 'true'
//	      - name: not-mirror-pod
//	        expression: >-
//	          !has(object.metadata.annotations) ||
//	          !('kubernetes.io/config.mirror' in object.metadata.annotations)
//	    matchPolicy: Equivalent
//	    sideEffects: None
//	    reinvocationPolicy: IfNeeded
//	    timeoutSeconds: 10
//	    failurePolicy: Fail        # from values; Ignore admits pods unmutated when the webhook is down
//
// RBAC the webhook needs (ClusterRole unless noted):
//
//	rules:
//	- apiGroups: ["secrets-store.csi.x-k8s.io"]
//	  resources: ["secretproviderclasses"]
//	  verbs: ["get", "list", "watch"]
//	- apiGroups: [""]
//	  resources: ["serviceaccounts"]
//	  verbs: ["get"]
//	- apiGroups: ["admissionregistration.k8s.io"]
//	  resources: ["mutatingwebhookconfigurations"]
//	  resourceNames: ["<webhook-config-name>"]
//	  verbs: ["get", "watch", "patch"]
//	# Role in the webhook's namespace (self-managed certificates only):
//	- apiGroups: [""]
//	  resources: ["secrets"]
//	  resourceNames: ["<cert-secret-name>"]
//	  verbs: ["get", "update"]
//	- apiGroups: [""]
//	  resources: ["secrets"]
//	  verbs: ["create"]          # create cannot be restricted by name
//
// Metrics (Prometheus, --metrics-addr): aws_secrets_injector_webhook_admissions_total{result}
// and aws_secrets_injector_webhook_admission_duration_seconds, besides
// controller-runtime's controller_runtime_webhook_* series.
package webhook
