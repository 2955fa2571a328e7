#!/usr/bin/env bash
# make demo: the whole system on a real single-node cluster on this machine.
# Builds the tools and the image (the first build takes ~15 min on 2 cores:
# the Kubernetes binaries come from source), brings the node up
# (hack/node/cluster.sh: a network namespace, nothing leaves the machine),
# starts the fake AWS in that namespace trusting the cluster's service-account
# issuer, installs the Helm chart, applies the user's SecretProviderClass and an
# annotated pod in a labelled namespace, and prints what the pod sees. The
# cluster keeps running; `make demo-down` (demo.sh down) stops it.
#
# Needs root on Linux; otherwise it says so and runs the fetch-only demo
# (hack/demo-fetch.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
NS=demo
FAKE_PORT=4566
TOOLBOX_IMAGE=localhost/asi-toolbox:e2e
START=$SECONDS

# The demo drives the node while it runs: it holds the node's lock (as the e2e
# tests do), waiting while a test drives it; a node left up by an earlier demo
# is then replaced.
hold_lock() {
  exec 9>/run/asi-node.lock
  if ! flock -n 9; then
    printf '[demo] waiting for whoever drives the node (a test run?): /run/asi-node.lock\n'
    flock 9
  fi
  export NODE_LOCK_HELD=1
}

# demo.sh down (make demo-down): delete the demo's pods while the mounter still
# runs (their volumes unmount at once), then the node and the fake AWS.
if [[ ${1:-} == down ]]; then
  hold_lock
  if [[ -e /run/netns/asi-node && -x $BIN/kubectl ]]; then
    eval "$("$ROOT/hack/node/cluster.sh" env)"
    "$BIN/kubectl" --kubeconfig "$KUBECONFIG" delete namespace "$NS" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true
  fi
  exec "$ROOT/hack/node/cluster.sh" down
fi

step() { printf '[demo %s +%ds] %s\n' "$(date -u +%T)" "$((SECONDS - START))" "$*"; }
die() { step "error: $*" >&2; exit 1; }

if [[ $(uname -s) != Linux || $(id -u) != 0 ]]; then
  step "the cluster demo needs root on Linux (network namespace, containers, mounts);"
  step "running the fetch-only demo instead (fake AWS + aws-secrets-injector fetch of the user's SecretProviderClass)"
  make -C "$ROOT" -s build
  exec "$ROOT/hack/demo-fetch.sh"
fi

# The user's manifests: the project's own copy (test/examples), never a file
# outside the repository.
SPC=$ROOT/test/examples/testdata/seed-secretproviderclass.yaml
[[ -f $SPC ]] || die "no $SPC"
hold_lock

step "building tools and the image (first time ~15 min cold: kube-apiserver, kubelet, controller-manager, scheduler, kubectl, etcd, helm from source; later seconds)"
make -C "$ROOT" -s tools-apiserver tools-node tools-helm image
step "building the demo workload image (a static toolbox with sleep and cat)"
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$BIN/e2e-toolbox" ./test/e2e/toolbox)
"$BIN/mkimage" --file "$BIN/e2e-toolbox:/toolbox" --file "$BIN/e2e-toolbox:/sleep" --file "$BIN/e2e-toolbox:/cat" \
  --file "$BIN/e2e-toolbox:/ls" --entrypoint /toolbox --user 65532:65532 --tag "$TOOLBOX_IMAGE" \
  --out "$BIN/e2e-toolbox-image.tar" >/dev/null

step "bringing the node up (hack/node/cluster.sh up)"
"$ROOT/hack/node/cluster.sh" up
"$ROOT/hack/node/cluster.sh" load-image "$BIN/aws-secrets-injector-image.tar"
"$ROOT/hack/node/cluster.sh" load-image "$BIN/e2e-toolbox-image.tar"
eval "$("$ROOT/hack/node/cluster.sh" env)"
kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }

FAKE_URL=http://$NODE_IP:$FAKE_PORT
STATE=$(dirname "$KUBECONFIG")/demo-fakeaws.yaml
step "starting the fake AWS on $FAKE_URL (inside the node's namespace), trusting the issuer $SERVICE_ACCOUNT_ISSUER"
cat >"$STATE" <<YAML
region: us-east-1
accountId: "111122223333"
roles:
  - arn: arn:aws:iam::111122223333:role/my-app
    allow: ["my-app/*"]
secrets:
  - name: my-app/db-credentials
    value: '{"username":"admin","password":"supersecretpassword"}'
issuers:
  - issuer: $SERVICE_ACCOUNT_ISSUER
    audiences: [sts.amazonaws.com]
    jwksFile: $SERVICE_ACCOUNT_JWKS
YAML
"$ROOT/hack/node/cluster.sh" run fakeaws "$BIN/fakeaws" --addr "$NODE_IP:$FAKE_PORT" --state "$STATE"
for _ in $(seq 1 50); do
  curl -fsS "$FAKE_URL/_fake/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$FAKE_URL/_fake/healthz" >/dev/null || die "the fake AWS does not answer on $FAKE_URL"

step "helm install aws-secrets-injector charts/aws-secrets-injector (image localhost/aws-secrets-injector:dev, AWS endpoint $FAKE_URL; no aws.region: the mounter reads the node's topology.kubernetes.io/region label, as on EKS)"
"$BIN/helm" install aws-secrets-injector "$ROOT/charts/aws-secrets-injector" --kubeconfig "$KUBECONFIG" \
  --namespace aws-secrets-injector --create-namespace --wait --timeout 5m \
  --set image.repository=localhost/aws-secrets-injector --set image.tag=dev --set image.pullPolicy=Never \
  --set aws.endpoint="$FAKE_URL" --set webhook.replicas=1 >/dev/null

step "namespace $NS (labelled aws-secrets-injector.io/inject=enabled), the user's SecretProviderClass, IRSA role on the default ServiceAccount"
kc create namespace "$NS" >/dev/null
kc label namespace "$NS" aws-secrets-injector.io/inject=enabled >/dev/null
kc apply -n "$NS" -f "$SPC" >/dev/null
for _ in $(seq 1 50); do kc get serviceaccount -n "$NS" default >/dev/null 2>&1 && break; sleep 0.2; done
kc annotate serviceaccount -n "$NS" default eks.amazonaws.com/role-arn=arn:aws:iam::111122223333:role/my-app >/dev/null

step "an annotated pod (aws-secrets-injector.io/inject, secret-provider-class): the webhook adds the CSI volume"
kc apply -n "$NS" -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: my-app-pod
  annotations:
    aws-secrets-injector.io/inject: "true"
    aws-secrets-injector.io/secret-provider-class: aws-secretsmanager-reader
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: my-app-container
      image: $TOOLBOX_IMAGE
      command: ["sleep", "3600"]
YAML
kc wait -n "$NS" --for=condition=Ready pod/my-app-pod --timeout=3m >/dev/null || {
  kc describe -n "$NS" pod/my-app-pod >&2; die "the pod did not start"; }

step "ready in $((SECONDS - START))s. What the pod sees:"
for f in db-user db-password; do
  echo "\$ kubectl exec -n $NS my-app-pod -- cat /mnt/secrets-store/$f"
  kc exec -n "$NS" my-app-pod -- cat "/mnt/secrets-store/$f"
  echo
done
cat <<EOT

The cluster keeps running. Try it:
  export KUBECONFIG=$KUBECONFIG
  $BIN/kubectl get pods -A
  $BIN/kubectl exec -n $NS my-app-pod -- toolbox mounts     # /mnt/secrets-store: tmpfs, ro
  curl $FAKE_URL/_fake/calls                                  # AWS calls the fake saw
Stop it (node, pods, fake AWS):  make demo-down
EOT
