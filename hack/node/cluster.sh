#!/usr/bin/env bash
# cluster.sh runs a real single-node Kubernetes cluster on this machine:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a kubelet and
# containerd, all inside a network namespace this script creates, so nothing
# it runs can reach or be reached from any network but that namespace's.
#
#   hack/node/cluster.sh up              bring the node up (refuses if already up, unless the
#                                        caller holds $NODE_LOCK: see below)
#   hack/node/cluster.sh down            tear everything down (safe to run any time)
#   hack/node/cluster.sh smoke           up, run static-binary pods and check them, down
#   hack/node/cluster.sh load-image TAR  import a docker-archive tarball into the node's containerd
#   hack/node/cluster.sh env             print the variables tests need (KUBECONFIG, issuer, JWKS, ...)
#   hack/node/cluster.sh run NAME CMD... start another process in the namespace (e.g. the fake AWS
#                                        on $NODE_IP); down stops it first
#
# Layout (all configurable through the environment):
#   network namespace $NODE_NS (asi-node) with a veth pair: $NODE_IP (10.200.0.2) inside
#   as the node IP, $HOST_IP (10.200.0.1) in the root namespace so tools here reach the
#   API server at https://$NODE_IP (port 443); pods on a bridge, 10.244.0.0/24; no default
#   route anywhere in the namespace, so nothing leaves it. No kube-proxy: the "kubernetes"
#   service IP (10.96.0.1) is an address of the namespace where the API server listens, so
#   in-cluster clients work; other ClusterIPs do not (the API server reaches webhook
#   services through EndpointSlices; pods reach servers on $NODE_IP directly).
#   state $NODE_STATE (/var/lib/asi-node): certificates, kubeconfigs, etcd data, containerd
#   root, logs; runtime state /run/asi-node; kubelet root $KUBELET_DIR (/var/lib/kubelet).
#   admin kubeconfig: $NODE_STATE/admin.kubeconfig.
#
# Whoever drives the node for a while (the e2e tests, make demo) holds an exclusive
# flock on $NODE_LOCK (/run/$NODE_NS.lock) while it works and runs this script with
# NODE_LOCK_HELD=1. A node that is up while its caller holds the lock has nobody else
# driving it (make demo leaves it running; a killed run leaves it behind): `up` then
# takes it down first instead of refusing.
#
# Needs root on Linux. Binaries come from bin/ (hack/build-tools.sh apiserver node, which
# this script runs); containerd, runc and the CNI plugins from Debian packages (installed
# with apt-get when missing). Images: a local pause image built with go-containerregistry
# (hack/tools/image), no registry.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
GO="${GO:-go}"
NODE_NS="${NODE_NS:-asi-node}"
NODE_NAME="${NODE_NAME:-asi-node}"
NODE_IP="${NODE_IP:-10.200.0.2}"
HOST_IP="${HOST_IP:-10.200.0.1}"
POD_CIDR="${POD_CIDR:-10.244.0.0/24}"
SERVICE_CIDR="${SERVICE_CIDR:-10.96.0.0/24}"
# The node is labelled with its region the way EKS labels nodes (the mounter
# takes a class's default region from it).
NODE_REGION="${NODE_REGION:-us-east-1}"
NODE_STATE="${NODE_STATE:-/var/lib/asi-node}"
NODE_RUN="${NODE_RUN:-/run/asi-node}"
KUBELET_DIR="${KUBELET_DIR:-/var/lib/kubelet}"
NODE_LOCK="${NODE_LOCK:-/run/$NODE_NS.lock}"
# 443: the API server also answers on the "kubernetes" service IP (no kube-proxy here).
API_PORT="${API_PORT:-443}"
PAUSE_IMAGE="${PAUSE_IMAGE:-localhost/pause:asi}"
SMOKE_IMAGE="${SMOKE_IMAGE:-localhost/asi-smoke:dev}"

SERVICE_IP="$(echo "$SERVICE_CIDR" | awk -F'[./]' '{print $1"."$2"."$3"."$4+1}')"
if [[ $API_PORT == 443 ]]; then API_URL="https://$NODE_IP"; else API_URL="https://$NODE_IP:$API_PORT"; fi
PKI="$NODE_STATE/pki"
LOGS="$NODE_STATE/logs"
PIDS="$NODE_RUN/pids"
CTR_SOCK="$NODE_RUN/containerd/containerd.sock"
VETH_HOST="veth-${NODE_NS:0:9}0"
VETH_NODE="veth-${NODE_NS:0:9}1"
export KUBECONFIG="$NODE_STATE/admin.kubeconfig"

log() { printf '[node %s] %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
in_ns() { nsenter --net="/run/netns/$NODE_NS" "$@"; }
kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
ctr() { command ctr -a "$CTR_SOCK" -n k8s.io "$@"; }

# hold_lock takes $NODE_LOCK for the rest of this process (waiting while a test
# or the demo drives the node), so `up` may replace a node nobody drives.
hold_lock() {
  exec 9>"$NODE_LOCK"
  if ! flock -n 9; then
    log "waiting for whoever drives the node ($NODE_LOCK)"
    flock 9
  fi
  export NODE_LOCK_HELD=1
}

# ---------------------------------------------------------------- prerequisites

need_root() {
  [[ "$(uname -s)" == Linux ]] || die "the node runs on Linux only"
  [[ "$(id -u)" == 0 ]] || die "the node needs root (network namespace, mounts, containers)"
}

install_packages() {
  local missing=() c pkg
  # command:package for everything this script and hack/demo.sh run.
  for c in containerd:containerd runc:runc ip:iproute2 nsenter:util-linux openssl:openssl curl:curl flock:util-linux; do
    pkg=${c#*:}
    command -v "${c%%:*}" >/dev/null || [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
    missing+=(containernetworking-plugins)
  [[ ${#missing[@]} -eq 0 ]] && return
  log "installing ${missing[*]} with apt-get (~10 s)..."
  # Keep the packages from starting a system containerd: ours runs with its own config.
  local policy=/usr/sbin/policy-rc.d added=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
    { [[ -n $added ]] && rm -f "$policy"; die "apt-get could not install the Debian packages ${missing[*]} (no network, or the archive refused them)"; }
  [[ -n $added ]] && rm -f "$policy"
  return 0
}

build_binaries() {
  "$ROOT/hack/build-tools.sh" apiserver node image
  image "$BIN/pause-image.tar" "$PAUSE_IMAGE" /pause "$BIN/pause:/pause"
  # The smoke image: static binaries only. /pause blocks; /etcd --version prints
  # and exits; /kubectl calls the API server on the node IP with the pod's token.
  image "$BIN/smoke-image.tar" "$SMOKE_IMAGE" /pause "$BIN/pause:/pause" "$BIN/etcd:/etcd" "$BIN/kubectl:/kubectl"
}

# image TAR TAG ENTRYPOINT SRC:DST...: build a one-layer image tarball with
# mkimage unless TAR is newer than every input and was built from the same list.
image() {
  local tar="$1" tag="$2" entry="$3" f stale=
  shift 3
  local key="$tag $entry $*"
  [[ -f "$tar" && "$(cat "$tar.inputs" 2>/dev/null)" == "$key" ]] || stale=1
  for f in "$@"; do
    [[ "${f%%:*}" -nt "$tar" ]] && stale=1
  done
  [[ -n $stale ]] || return 0
  local args=()
  for f in "$@"; do args+=(--file "$f"); done
  "$BIN/mkimage" "${args[@]}" --entrypoint "$entry" --user 65535:65535 --tag "$tag" --out "$tar" >/dev/null
  echo "$key" >"$tar.inputs"
}

# ---------------------------------------------------------------- certificates

# cert NAME CN O SANS EKU: a key and a certificate signed by the cluster CA.
cert() {
  local name="$1" cn="$2" org="$3" sans="$4" eku="$5"
  [[ -f "$PKI/$name.crt" ]] && return
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  local subj="/CN=$cn"
  [[ -n $org ]] && subj+="/O=$org"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

# kubeconfig FILE CERTNAME: a kubeconfig for the API server with that client certificate.
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NODE_NS
  cluster:
    server: $API_URL
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$2.crt")
    client-key-data: $(base64 -w0 "$PKI/$2.key")
contexts:
- name: $NODE_NS
  context: {cluster: $NODE_NS, user: $2}
current-context: $NODE_NS
EOF
  chmod 600 "$1"
}

make_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  if [[ ! -f "$PKI/ca.crt" ]]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=$NODE_NS-ca" -days 30 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  cert apiserver kube-apiserver "" \
    "IP:$NODE_IP,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" serverAuth
  cert admin admin system:masters "" clientAuth
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" clientAuth
  cert kubelet "system:node:$NODE_NAME" system:nodes "" clientAuth
  cert kubelet-serving "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME" serverAuth
  cert controller-manager system:kube-controller-manager "" "" clientAuth
  cert scheduler system:kube-scheduler "" "" clientAuth
  if [[ ! -f "$PKI/sa.key" ]]; then
    # RSA: service-account tokens are RS256, as on EKS.
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  kubeconfig "$NODE_STATE/admin.kubeconfig" admin
  kubeconfig "$NODE_STATE/kubelet.kubeconfig" kubelet
  kubeconfig "$NODE_STATE/controller-manager.kubeconfig" controller-manager
  kubeconfig "$NODE_STATE/scheduler.kubeconfig" scheduler
}

# ---------------------------------------------------------------- network

make_netns() {
  ip netns add "$NODE_NS"
  in_ns ip link set lo up
  # No kube-proxy: the "kubernetes" service IP is an address of the namespace
  # itself, where the API server listens (0.0.0.0:443), so in-cluster clients work.
  # Other ClusterIPs do not route; pods reach servers on the node IP directly.
  in_ns ip addr add "$SERVICE_IP/32" dev lo
  ip link add "$VETH_HOST" type veth peer name "$VETH_NODE"
  ip link set "$VETH_NODE" netns "$NODE_NS"
  ip addr add "$HOST_IP/24" dev "$VETH_HOST"
  ip link set "$VETH_HOST" up
  in_ns ip addr add "$NODE_IP/24" dev "$VETH_NODE"
  in_ns ip link set "$VETH_NODE" up
  # Replies from the root namespace to pods go back into the namespace, not out
  # of the machine. The namespace itself has no default route.
  # (Another node on this machine with the same pod CIDR keeps its route; then
  # only the root namespace cannot reach this node's pods.)
  ip route add "$POD_CIDR" via "$NODE_IP" dev "$VETH_HOST" 2>/dev/null ||
    log "warning: $POD_CIDR is already routed in the root namespace (another node?)"
}

# ---------------------------------------------------------------- processes

# start NAME CMD...: run CMD inside the namespace, in its own session (so a
# Ctrl-C reaches only this script, which stops everything in order).
start() {
  local name="$1"
  shift
  log "starting $name"
  readlink -f "$(command -v "$1")" >"$PIDS/$name.exe"
  setsid nsenter --net="/run/netns/$NODE_NS" "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

# stop NAME [TIMEOUT]: SIGTERM the process we started, SIGKILL after TIMEOUT seconds.
stop() {
  local name="$1" timeout="${2:-20}" pid
  [[ -f "$PIDS/$name.pid" ]] || return 0
  pid="$(cat "$PIDS/$name.pid")"
  # Only the process we started: same pid and same executable.
  if kill -0 "$pid" 2>/dev/null && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$(cat "$PIDS/$name.exe" 2>/dev/null)" ]]; then
    log "stopping $name ($pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < timeout * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop in ${timeout}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDS/$name.pid" "$PIDS/$name.exe"
}

# wait_for WHAT SECONDS CMD...: poll CMD every 0.5 s.
wait_for() {
  local what="$1" secs="$2" i
  shift 2
  for ((i = 0; i < secs * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "timed out after ${secs}s waiting for $what; last log lines:"
  local f
  for f in "$LOGS"/*.log; do
    echo "== $f" >&2
    tail -n 15 "$f" >&2
  done
  return 1
}

write_configs() {
  mkdir -p "$NODE_STATE/containerd" "$NODE_STATE/cni/net.d" "$NODE_STATE/cni/ipam" "$NODE_RUN/containerd"
  cat >"$NODE_STATE/containerd/config.toml" <<EOF
version = 2
root = "$NODE_STATE/containerd/root"
state = "$NODE_RUN/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CTR_SOCK"
[ttrpc]
  address = "$NODE_RUN/containerd/containerd.sock.ttrpc"
[debug]
  address = "$NODE_RUN/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The machine lacks CAP_SYS_RESOURCE: without this every sandbox fails.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_STATE/cni/net.d"
EOF
  cat >"$NODE_STATE/cni/net.d/10-asi-node.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$NODE_NS",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
  cat >"$NODE_STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CTR_SOCK
# This host: cgroup v1 (hybrid), no systemd, no CAP_SYS_RESOURCE, no iptables.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
localStorageCapacityIsolation: false
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
resolvConf: ""
makeIPTablesUtilChains: false
clusterDomain: cluster.local
serializeImagePulls: false
rotateCertificates: false
EOF
}

up() {
  need_root
  if [[ -e "/run/netns/$NODE_NS" ]]; then
    if [[ ${NODE_LOCK_HELD:-} != 1 ]]; then
      die "network namespace $NODE_NS exists: the node is up (or left over); run '$0 down' first"
    fi
    log "the node is up with nobody driving it (left running by make demo, or by a run that was killed): taking it down first"
    down
  fi
  install_packages
  build_binaries
  local t0=$SECONDS
  mkdir -p "$NODE_STATE" "$LOGS" "$PIDS"
  if [[ ! -d "$KUBELET_DIR" ]]; then
    mkdir -p "$KUBELET_DIR"
    touch "$NODE_STATE/kubelet-dir-created"
  fi
  # Remember what was there before us, so down removes only what we made.
  ip netns list 2>/dev/null | awk '{print $1}' | sort >"$NODE_RUN/netns-before"
  if grep -qs ' /run/netns ' /proc/self/mountinfo; then touch "$NODE_RUN/netns-mounted-before"; fi
  make_pki
  write_configs
  make_netns

  # The kubelet root must be a shared mount so a CSI plugin's mounts
  # (mountPropagation: Bidirectional) reach the pods.
  if ! grep -qs " $KUBELET_DIR " /proc/self/mountinfo; then
    mount --bind "$KUBELET_DIR" "$KUBELET_DIR"
    touch "$NODE_RUN/kubelet-dir-bound"
  fi
  mount --make-rshared "$KUBELET_DIR"

  start containerd "$(command -v containerd)" --config "$NODE_STATE/containerd/config.toml"
  start etcd "$BIN/etcd" --name "$NODE_NAME" --data-dir "$NODE_STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --unsafe-no-fsync --log-level warn
  wait_for etcd 30 in_ns curl -fsS http://127.0.0.1:2379/health

  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --advertise-address="$NODE_IP" --secure-port="$API_PORT" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --client-ca-file="$PKI/ca.crt" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer="$API_URL" \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true --enable-aggregator-routing=true \
    --profiling=false
  wait_for kube-apiserver 60 curl -fsS --cacert "$PKI/ca.crt" "$API_URL/readyz"

  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$NODE_STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$NODE_STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$NODE_STATE/controller-manager.kubeconfig" \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --use-service-account-credentials --controllers='*' --leader-elect=false \
    --bind-address=127.0.0.1 --service-cluster-ip-range="$SERVICE_CIDR"
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$NODE_STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$NODE_STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$NODE_STATE/scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1

  wait_for containerd 30 test -S "$CTR_SOCK"
  load_image "$BIN/pause-image.tar"
  load_image "$BIN/smoke-image.tar"

  start kubelet "$BIN/kubelet" --config="$NODE_STATE/kubelet.yaml" \
    --kubeconfig="$NODE_STATE/kubelet.kubeconfig" --root-dir="$KUBELET_DIR" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1 \
    --node-labels="topology.kubernetes.io/region=$NODE_REGION,topology.kubernetes.io/zone=${NODE_REGION}a"
  wait_for "node $NODE_NAME Ready" 90 \
    bash -c "'$BIN/kubectl' --kubeconfig '$KUBECONFIG' get node '$NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  wait_for "default service account" 30 kubectl -n default get serviceaccount default
  # The issuer's key set, for a fake STS that trusts this cluster as IAM trusts an EKS OIDC provider.
  kubectl get --raw /openid/v1/jwks >"$NODE_STATE/jwks.json"
  log "node up in $((SECONDS - t0))s: export KUBECONFIG=$KUBECONFIG (API server $API_URL)"
}

load_image() {
  log "importing $(basename "$1") into containerd"
  ctr images import --snapshotter overlayfs "$1" >/dev/null
}

# ---------------------------------------------------------------- teardown

down() {
  need_root
  mkdir -p "$PIDS"
  local t0=$SECONDS
  # 1. Workloads, while the kubelet still runs, so it unmounts their volumes.
  if [[ -f "$PIDS/kubelet.pid" && -f "$KUBECONFIG" ]] && kubectl get --raw /readyz >/dev/null 2>&1; then
    log "deleting workloads"
    kubectl delete pods --all-namespaces --all --grace-period=1 --wait=true --timeout=60s >/dev/null 2>&1 || true
  fi
  # 2. Extra processes started with `run`, then the control plane and node, in
  #    order; the API server before etcd.
  local f extra
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || continue
    extra="$(basename "$f" .pid)"
    case "$extra" in
      kube-scheduler | kube-controller-manager | kubelet | containerd | kube-apiserver | etcd) ;;
      *) stop "$extra" ;;
    esac
  done
  stop kube-scheduler
  stop kube-controller-manager
  stop kubelet 30
  if [[ -S "$CTR_SOCK" ]] && [[ -f "$PIDS/containerd.pid" ]]; then
    local id
    for id in $(ctr tasks ls -q 2>/dev/null); do
      ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    sleep 0.5
    for id in $(ctr tasks ls -q 2>/dev/null); do
      ctr tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(ctr containers ls -q 2>/dev/null); do
      ctr containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  stop containerd
  stop kube-apiserver 60
  stop etcd
  # 3. Mounts left under our directories (sandbox shm, rootfs, kubelet volumes), deepest first.
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v a="$NODE_RUN/" -v b="$NODE_STATE/" -v c="$KUBELET_DIR/" \
    'index($5, a) == 1 || index($5, b) == 1 || index($5, c) == 1 {print $5}' /proc/self/mountinfo | sort -r)
  if [[ -f "$NODE_RUN/kubelet-dir-bound" ]]; then
    umount -l "$KUBELET_DIR" 2>/dev/null || true
    rm -f "$NODE_RUN/kubelet-dir-bound"
  fi
  # 4. Network: pod namespaces containerd left behind, then ours.
  if [[ -f "$NODE_RUN/netns-before" ]]; then
    local ns
    for ns in $(comm -13 "$NODE_RUN/netns-before" <(ip netns list 2>/dev/null | awk '{print $1}' | sort)); do
      [[ $ns == cni-* ]] && ip netns del "$ns" 2>/dev/null || true
    done
  fi
  ip route del "$POD_CIDR" via "$NODE_IP" 2>/dev/null || true
  ip link del "$VETH_HOST" 2>/dev/null || true
  if [[ -e "/run/netns/$NODE_NS" ]]; then
    ip netns del "$NODE_NS"
  fi
  if [[ ! -f "$NODE_RUN/netns-mounted-before" ]] && [[ -z "$(ls -A /run/netns 2>/dev/null)" ]] &&
    grep -qs ' /run/netns ' /proc/self/mountinfo; then
    umount /run/netns 2>/dev/null || true
  fi
  rm -rf "$NODE_RUN"
  # State (etcd, containerd root, certs) goes too unless KEEP_STATE=1: a fresh node each time.
  # The kubelet directory goes when we created it (no mount may remain in it).
  if [[ "${KEEP_STATE:-0}" != 1 ]]; then
    rm -rf "$NODE_STATE/etcd" "$NODE_STATE/containerd" "$NODE_STATE/cni"
    if [[ -f "$NODE_STATE/kubelet-dir-created" ]] && ! grep -qs " $KUBELET_DIR[/ ]" /proc/self/mountinfo; then
      rm -rf "$KUBELET_DIR" "$NODE_STATE/kubelet-dir-created"
    fi
  fi
  log "down in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- smoke

smoke() {
  hold_lock
  trap 'rc=$?; down || true; exit $rc' EXIT
  trap 'exit 130' INT TERM
  up
  local t0=$SECONDS
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: smoke-sleeper, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: pause
    image: $SMOKE_IMAGE
    imagePullPolicy: Never
---
apiVersion: v1
kind: Pod
metadata: {name: smoke-once, namespace: default}
spec:
  restartPolicy: Never
  containers:
  - name: etcd-version
    image: $SMOKE_IMAGE
    imagePullPolicy: Never
    command: ["/etcd", "--version"]
EOF
  kubectl wait --for=condition=Ready pod/smoke-sleeper --timeout=90s >/dev/null
  kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/smoke-once --timeout=90s >/dev/null
  local logs execd ip tok
  logs="$(kubectl logs smoke-once)"
  grep -q '^etcd Version: ' <<<"$logs" || die "smoke-once logs: $logs"
  execd="$(kubectl exec smoke-sleeper -- /etcd --version)"
  grep -q '^etcd Version: ' <<<"$execd" || die "kubectl exec output: $execd"
  ip="$(kubectl get pod smoke-sleeper -o jsonpath='{.status.podIP}')"
  [[ $ip == "${POD_CIDR%.*}".* ]] || die "pod IP $ip is not in $POD_CIDR"
  # The kubelet projected a service-account token (TokenRequest) into the pod's tmpfs.
  tok="$(kubectl get pod smoke-sleeper -o jsonpath='{.spec.volumes[*].projected.sources[*].serviceAccountToken.path}')"
  [[ $tok == token ]] || die "no projected service-account token volume: $tok"
  grep -qs "$KUBELET_DIR/pods/$(kubectl get pod smoke-sleeper -o jsonpath='{.metadata.uid}')/volumes/kubernetes.io~projected/.* tmpfs " /proc/self/mountinfo ||
    die "the projected token volume is not a tmpfs on the node"
  # A pod reaches the API server through the kubernetes service IP (in-cluster
  # config), authenticated by its projected service-account token.
  local ver
  ver="$(kubectl exec smoke-sleeper -- /kubectl get --raw /version)"
  grep -q '"gitVersion": *"v1.37.2"' <<<"$ver" || die "pod -> API server on the node IP: $ver"
  kubectl exec smoke-sleeper -- /kubectl auth whoami -o jsonpath='{.status.userInfo.username}' |
    grep -qx 'system:serviceaccount:default:default' || die "the pod's token did not authenticate it as default/default"
  log "smoke passed in $((SECONDS - t0))s: pod IP $ip; logs and exec: $(head -1 <<<"$execd"); pod -> $SERVICE_IP:443 as its service account"
}

# run NAME CMD...: start another process inside the node's network namespace
# (for example the fake AWS bound to $NODE_IP, which pods reach directly);
# `down` stops it first. Its log: $NODE_STATE/logs/NAME.log.
run_extra() {
  need_root
  [[ -e "/run/netns/$NODE_NS" ]] || die "the node is not up"
  local name="$1"
  shift
  [[ $name =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "run: NAME must be lower-case letters, digits and dashes"
  [[ ! -f "$PIDS/$name.pid" ]] || die "run: $name is already running (pid $(cat "$PIDS/$name.pid"))"
  command -v "$1" >/dev/null || die "run: $1 not found"
  start "$name" "$@"
  sleep 0.2
  kill -0 "$(cat "$PIDS/$name.pid")" 2>/dev/null || { tail -n 20 "$LOGS/$name.log" >&2; die "$name exited at once"; }
}

print_env() {
  echo "export SERVICE_ACCOUNT_ISSUER=$API_URL"
  echo "export SERVICE_ACCOUNT_JWKS=$NODE_STATE/jwks.json SERVICE_ACCOUNT_PUBLIC_KEY=$PKI/sa.pub"
  echo "export KUBECONFIG=$KUBECONFIG"
  echo "export NODE_NS=$NODE_NS NODE_IP=$NODE_IP HOST_IP=$HOST_IP"
  echo "export CONTAINERD_ADDRESS=$CTR_SOCK"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  smoke) smoke ;;
  load-image) need_root; [[ -n "${2:-}" ]] || die "usage: $0 load-image TAR"; load_image "$2" ;;
  env) print_env ;;
  run) [[ $# -ge 3 ]] || die "usage: $0 run NAME CMD [ARGS...]"; shift; run_extra "$@" ;;
  *) awk 'NR > 1 && /^set -euo/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 2 ;;
esac
