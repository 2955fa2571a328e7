// Package webhook is the mutating admission webhook of aws-secrets-injector
// (`aws-secrets-injector webhook`): it rewrites annotated pods in opted-in
// namespaces so that their secrets are delivered as files.
//
// The work is split in two, as the house style asks:
//   - Mutate, a pure function over a deep copy of the pod: parse the
//     annotations (ParseAnnotations), check the SecretProviderClass exists and
//     validates (spc.Parse), select containers, check the mount path, then
//     dispatch on the mode to its mutator — csiMutator (csi.go) or initMutator
//     (init.go, issue 5) — and mark the pod with status: injected;
//   - Handler, a thin admission layer that decodes the request, calls Mutate
//     and answers with admission.PatchResponseFromRaw.
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
// In csi mode the refresh and refresh-interval annotations are validated but
// change nothing in the pod: the mounter re-fetches on every republish
// (CSIDriver requiresRepublish) at the class's refreshInterval or its own
// --refresh-interval. init-first only matters in init mode.
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
