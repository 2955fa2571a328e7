#!/usr/bin/env bash
# build-tools.sh builds the real Kubernetes parts the tests run into bin/
# (git-ignored), at pinned versions, from the Go module proxy only.
#
#   hack/build-tools.sh [TARGET...]     (default: all)
#
# Targets:
#   apiserver      kube-apiserver + etcd          (integration tests, envtest)
#   node           kubelet, kube-controller-manager, kube-scheduler, kubectl (end to end)
#   helm           helm, told it talks to Kubernetes 1.37
#   golangci-lint  golangci-lint
#   csi            csi-sanity (the csi-test suite as a command)
#   image          mkimage (image tarballs without Docker) and pause (the sandbox binary)
#   protoc         protoc-gen-go and protoc-gen-go-grpc (the plugins `make generate` runs;
#                  protoc itself is a Debian package, installed by hack/generate.sh)
#   anchors        vault-k8s, the other webhook `make bench` runs beside ours (not in all:
#                  only the benchmarks need it)
#   all            everything above but anchors
#
# Versions are pinned here and in the wrapper modules under hack/tools/ (their
# go.sum files are committed); each wrapper's modules are downloaded in a step
# of their own (go mod download) before anything reads them. A binary is rebuilt only when it is missing or
# its stamp file bin/.stamp-<tool>-<version> is: reruns cost nothing.
# Environment: BIN (default <repo>/bin), GO (default go), RESOLVE_ONLY=1 (run
# only the download and check steps of each target, build nothing: what
# hack/check-fresh.sh runs against empty caches).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
GO="${GO:-go}"

K8S_VERSION=v1.37.2
K8S_STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.22.0
GOLANGCI_LINT_VERSION=v2.15.0
CSI_TEST_VERSION=v5.6.0
# protoc-gen-go ships in the protobuf runtime module: keep it equal to the
# google.golang.org/protobuf the repository's go.mod requires.
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
# The newest vault-k8s the module proxy serves here (v1.7.x answer 403).
VAULT_K8S_VERSION=v1.6.2

# Every build: pinned go.sum, no workspace, static binaries.
export GOWORK=off CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"

log() { printf '[build-tools] %s\n' "$*" >&2; }

# fresh TOOL VERSION: true when bin/TOOL exists with a stamp for VERSION
# (never with RESOLVE_ONLY, so every resolution step runs).
fresh() {
  [[ -z ${RESOLVE_ONLY:-} && -x "$BIN/$1" && -f "$BIN/.stamp-$1-$2" ]]
}

# stamp TOOL VERSION SECONDS: record a successful build.
stamp() {
  rm -f "$BIN/.stamp-$1-"*
  printf 'built %s in %ss\n' "$(date -u +%FT%TZ)" "$3" >"$BIN/.stamp-$1-$2"
  log "built $BIN/$1 $2 in $3s"
}

# build_in MODULE_DIR TOOL VERSION ESTIMATE PKG [go build flags...]: build PKG
# inside the wrapper module MODULE_DIR into bin/TOOL, atomically.
build_in() {
  local dir="$1" tool="$2" version="$3" estimate="$4" pkg="$5"
  shift 5
  if fresh "$tool" "$version"; then
    log "$tool $version is up to date"
    return
  fi
  if [[ -n ${RESOLVE_ONLY:-} ]]; then
    (cd "$dir" && "$GO" list -deps "$pkg" >/dev/null) || { log "error: cannot resolve $pkg in ${dir#"$ROOT"/}"; return 1; }
    log "resolved $tool $version"
    return
  fi
  log "building $tool $version (first build $estimate, then seconds)..."
  local start=$SECONDS tmp="$BIN/.$tool.tmp.$$"
  (cd "$dir" && "$GO" build -trimpath "$@" -o "$tmp" "$pkg") || { rm -f "$tmp"; return 1; }
  mv -f "$tmp" "$BIN/$tool"
  stamp "$tool" "$version" $((SECONDS - start))
}

# download MODULE_DIR WHAT: fetch the modules MODULE_DIR's build needs into the
# module cache as a step of its own, before anything reads a module's files
# (an empty cache otherwise surfaces later as an unrelated error). A failure
# names the wrapper module and shows what go said (no network, a refusal).
download() {
  local dir="$1" what="$2" out start=$SECONDS mod ver
  # The version this script pins must be the one the wrapper requires.
  mod="${what% *}" ver="${what##* }"
  if [[ $mod == *.* ]]; then
    check_pin "$dir" "$mod" "$ver" || return 1
  fi
  log "downloading the modules of ${dir#"$ROOT"/} ($what; seconds when cached)..."
  if ! out="$(cd "$dir" && "$GO" mod download 2>&1)"; then
    log "error: cannot download the modules of ${dir#"$ROOT"/} ($what):"
    printf '%s\n' "$out" | tail -n 20 >&2
    return 1
  fi
  (( SECONDS - start < 5 )) || log "downloaded the modules of ${dir#"$ROOT"/} in $((SECONDS - start))s"
}

# check_pin MODULE_DIR MODULE VERSION: the wrapper module's go.mod requires
# MODULE at exactly VERSION (the version pinned in this script).
check_pin() {
  if ! grep -Eq "^(require)?[[:space:]]*$2 $3\b" "$1/go.mod"; then
    log "error: ${1#"$ROOT"/}/go.mod does not require $2 $3 (the version pinned in this script)"
    return 1
  fi
}

# check_k8s_replaces: the wrapper must replace exactly the staging modules
# kubernetes' own go.mod replaces (minus the two samples), each with the
# published release matching K8S_VERSION.
check_k8s_replaces() {
  local kdir want have
  kdir="$(cd "$ROOT/hack/tools/k8s" && "$GO" list -m -f '{{.Dir}}' k8s.io/kubernetes)"
  [[ -n $kdir && -f $kdir/go.mod ]] || { log "error: k8s.io/kubernetes $K8S_VERSION is not in the module cache (download failed?)"; return 1; }
  want="$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$kdir/go.mod" |
    grep -v -e '^k8s.io/sample-cli-plugin$' -e '^k8s.io/sample-controller$' | sort)"
  have="$(awk -v v="$K8S_STAGING_VERSION" '$2 == "=>" && $4 == v && $1 == $3 {print $1}' \
    "$ROOT/hack/tools/k8s/go.mod" | sort)"
  if [[ "$want" != "$have" ]]; then
    log "hack/tools/k8s/go.mod replaces differ from k8s.io/kubernetes $K8S_VERSION's staging list:"
    diff <(echo "$want") <(echo "$have") >&2 || true
    return 1
  fi
}

k8s_ldflags() {
  local major minor rest
  major="${K8S_VERSION#v}"; major="${major%%.*}"
  rest="${K8S_VERSION#v*.}"; minor="${rest%%.*}"
  local v=k8s.io/component-base/version
  printf -- '-s -w -X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s -X %s.gitTreeState=clean' \
    "$v" "$K8S_VERSION" "$v" "$major" "$v" "$minor" "$v"
}

build_k8s() { # build_k8s TOOL ESTIMATE
  build_in "$ROOT/hack/tools/k8s" "$1" "$K8S_VERSION" "$2" "k8s.io/kubernetes/cmd/$1" -ldflags "$(k8s_ldflags)"
}

target_apiserver() {
  if ! fresh kube-apiserver "$K8S_VERSION"; then
    download "$ROOT/hack/tools/k8s" "k8s.io/kubernetes $K8S_VERSION"
    check_k8s_replaces
  fi
  fresh etcd "$ETCD_VERSION" || download "$ROOT/hack/tools/etcd" "go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  build_k8s kube-apiserver "~5-7 min with 2 cores"
  build_in "$ROOT/hack/tools/etcd" etcd "$ETCD_VERSION" "~30 s" go.etcd.io/etcd/server/v3 -ldflags "-s -w"
}

target_node() {
  local t
  for t in kubectl kube-scheduler kube-controller-manager kubelet; do
    if ! fresh "$t" "$K8S_VERSION"; then
      download "$ROOT/hack/tools/k8s" "k8s.io/kubernetes $K8S_VERSION"
      check_k8s_replaces
      break
    fi
  done
  build_k8s kubectl "~40 s after kube-apiserver"
  build_k8s kube-scheduler "~70 s after kube-apiserver"
  build_k8s kube-controller-manager "~80 s after kube-apiserver"
  build_k8s kubelet "~30 s after the others"
}

target_helm() {
  local major=${K8S_VERSION#v} minor
  minor=${major#*.}; minor=${minor%%.*}; major=${major%%.*}
  local fl="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  fl+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local p
  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    fl+=" -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
  done
  fresh helm "$HELM_VERSION+k8s$K8S_VERSION" || download "$ROOT/hack/tools/helm" "helm.sh/helm/v3 $HELM_VERSION"
  build_in "$ROOT/hack/tools/helm" helm "$HELM_VERSION+k8s$K8S_VERSION" "~2 min" helm.sh/helm/v3/cmd/helm -ldflags "$fl"
}

target_golangci_lint() {
  fresh golangci-lint "$GOLANGCI_LINT_VERSION" || download "$ROOT/hack/tools/golangci-lint" "github.com/golangci/golangci-lint/v2 $GOLANGCI_LINT_VERSION"
  build_in "$ROOT/hack/tools/golangci-lint" golangci-lint "$GOLANGCI_LINT_VERSION" "~80 s" \
    github.com/golangci/golangci-lint/v2/cmd/golangci-lint -ldflags "-s -w -X main.version=${GOLANGCI_LINT_VERSION#v}"
}

target_csi() {
  fresh csi-sanity "$CSI_TEST_VERSION" || download "$ROOT/hack/tools/csi-test" "github.com/kubernetes-csi/csi-test/v5 $CSI_TEST_VERSION"
  build_in "$ROOT/hack/tools/csi-test" csi-sanity "$CSI_TEST_VERSION" "~15 s" \
    github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity -ldflags "-s -w -X main.VERSION=$CSI_TEST_VERSION"
}

# target_image: mkimage (docker-archive tarballs without Docker) and the
# pause binary for the node's sandbox image, from hack/tools/image; rebuilt
# when that module's files change.
target_image() {
  local dir="$ROOT/hack/tools/image" v
  v="src-$(cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
  if ! fresh mkimage "$v" || ! fresh pause "$v"; then
    download "$dir" "github.com/google/go-containerregistry v0.22.1"
  fi
  build_in "$dir" mkimage "$v" "~20 s" ./cmd/mkimage -ldflags "-s -w"
  build_in "$dir" pause "$v" "~5 s" ./cmd/pause -ldflags "-s -w"
}

# target_protoc: the two protoc plugins from hack/tools/protoc. Both are
# pinned in that module's go.mod; the gRPC plugin's pin is checked here too.
target_protoc() {
  local dir="$ROOT/hack/tools/protoc"
  if ! fresh protoc-gen-go "$PROTOC_GEN_GO_VERSION" || ! fresh protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"; then
    check_pin "$dir" google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
    download "$dir" "google.golang.org/protobuf $PROTOC_GEN_GO_VERSION"
  fi
  build_in "$dir" protoc-gen-go "$PROTOC_GEN_GO_VERSION" "~5 s" google.golang.org/protobuf/cmd/protoc-gen-go -ldflags "-s -w"
  build_in "$dir" protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" "~5 s" google.golang.org/grpc/cmd/protoc-gen-go-grpc -ldflags "-s -w"
}

# target_anchors: vault-k8s's agent injector, the webhook benchmark's anchor,
# with its version stamped as its own Makefile does.
target_anchors() {
  fresh vault-k8s "$VAULT_K8S_VERSION" || download "$ROOT/hack/tools/vault-k8s" "github.com/hashicorp/vault-k8s $VAULT_K8S_VERSION"
  build_in "$ROOT/hack/tools/vault-k8s" vault-k8s "$VAULT_K8S_VERSION" "~80 s" github.com/hashicorp/vault-k8s \
    -ldflags "-s -w -X github.com/hashicorp/vault-k8s/version.Version=$VAULT_K8S_VERSION"
}

main() {
  mkdir -p "$BIN"
  local targets=("$@")
  [[ ${#targets[@]} -gt 0 ]] || targets=(all)
  # One build at a time per bin/ (several make invocations may race).
  exec 9>"$BIN/.build-tools.lock"
  if ! flock -n 9; then
    log "another build-tools.sh is running; waiting for it..."
    flock 9
  fi
  local t
  for t in "${targets[@]}"; do
    case "$t" in
      apiserver) target_apiserver ;;
      node) target_node ;;
      helm) target_helm ;;
      golangci-lint | lint) target_golangci_lint ;;
      csi) target_csi ;;
      image) target_image ;;
      protoc) target_protoc ;;
      anchors) target_anchors ;;
      all) target_apiserver; target_node; target_helm; target_golangci_lint; target_csi; target_image; target_protoc ;;
      *) log "unknown target $t (apiserver, node, helm, golangci-lint, csi, image, protoc, anchors, all)"; return 2 ;;
    esac
  done
}

main "$@"
