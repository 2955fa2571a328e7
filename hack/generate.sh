#!/usr/bin/env bash
# generate.sh writes the Go code generated from the repository's .proto files,
# with pinned tools, so that the same input gives the same bytes on every
# machine.
#
#   hack/generate.sh            regenerate in place (make generate)
#   hack/generate.sh verify     regenerate into a temporary directory and fail
#                               when the committed files differ (make verify-generate)
#
# Tools: protoc from the Debian package protobuf-compiler at PROTOC_VERSION
# (installed with apt-get when missing; another version is refused, since its
# number is written into every generated file), and the protoc-gen-go and
# protoc-gen-go-grpc plugins that hack/build-tools.sh builds into bin/ from
# hack/tools/protoc at the versions pinned there.
# Environment: BIN (default <repo>/bin), GO (default go).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
export BIN

PROTOC_VERSION=3.21.12

# The .proto files, relative to the repository root (their import paths); each
# one's generated files land beside it.
PROTOS=(provider/v1alpha1/service.proto)

log() { printf '[generate] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# protoc_version: the version the protoc on PATH reports, or nothing.
protoc_version() {
  command -v protoc >/dev/null || return 0
  protoc --version 2>/dev/null | awk '{print $2}'
}

# ensure_protoc: protoc PROTOC_VERSION on PATH, installing protobuf-compiler
# with apt-get (as root) when it is missing.
ensure_protoc() {
  local have
  have="$(protoc_version)"
  if [[ -z $have ]]; then
    [[ "$(id -u)" == 0 ]] || die "protoc is missing: install the Debian package protobuf-compiler ($PROTOC_VERSION) as root"
    log "installing protobuf-compiler with apt-get (~10 s)..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null; } ||
      die "apt-get could not install protobuf-compiler"
    have="$(protoc_version)"
  fi
  [[ $have == "$PROTOC_VERSION" ]] ||
    die "protoc $PROTOC_VERSION is needed (the generated files name it), found ${have:-none} at $(command -v protoc || echo '<nowhere>')"
}

# generate_into DIR: run protoc over PROTOS, writing the generated files under DIR
# at the same relative paths as their .proto files.
generate_into() {
  local out="$1"
  (cd "$ROOT" && protoc \
    --proto_path=. \
    --plugin=protoc-gen-go="$BIN/protoc-gen-go" \
    --plugin=protoc-gen-go-grpc="$BIN/protoc-gen-go-grpc" \
    --go_out="$out" --go_opt=paths=source_relative \
    --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
    "${PROTOS[@]}")
}

# generated_files DIR: the generated files under DIR, one relative path a line.
generated_files() {
  (cd "$1" && find . -name '*.pb.go' | sed 's|^\./||' | sort)
}

main() {
  local mode="${1:-generate}"
  case "$mode" in generate | verify) ;; *) die "unknown mode $mode (generate, verify)" ;; esac
  ensure_protoc
  "$ROOT/hack/build-tools.sh" protoc

  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  local tmp="$TMP"
  generate_into "$tmp"

  if [[ $mode == generate ]]; then
    local f
    while read -r f; do
      mkdir -p "$ROOT/$(dirname "$f")"
      cp "$tmp/$f" "$ROOT/$f"
      log "wrote $f"
    done < <(generated_files "$tmp")
    return 0
  fi

  # verify: the same set of files, with the same bytes.
  local want have stale=0 f
  want="$(generated_files "$tmp")"
  have="$(cd "$ROOT" && for p in "${PROTOS[@]}"; do find "$(dirname "$p")" -maxdepth 1 -name '*.pb.go'; done | sort -u)"
  if [[ "$want" != "$have" ]]; then
    log "the generated files differ from the committed ones (< generated, > committed):"
    diff <(echo "$want") <(echo "$have") >&2 || true
    stale=1
  fi
  while read -r f; do
    [[ -f "$ROOT/$f" ]] || continue
    if ! diff -u --label "$f (committed)" --label "$f (generated)" "$ROOT/$f" "$tmp/$f" >&2; then
      stale=1
    fi
  done <<<"$want"
  if ((stale)); then
    die "generated code is stale: run 'make generate' and commit the result"
  fi
  log "generated code is up to date ($(wc -l <<<"$want") files)"
}

main "$@"
