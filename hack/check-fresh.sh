#!/usr/bin/env bash
# check-fresh.sh: the README's two commands (make test, make demo) must work on
# a machine whose Go module cache and build cache are empty and where nothing
# was installed by hand. Building everything from empty caches takes most of an
# hour; this check runs only the resolution steps, against empty caches, in a
# minute or two:
#
#  1. a refused download is named: build-tools.sh with no module proxy fails at
#     its download step, naming the wrapper module (not later, with an
#     unrelated message);
#  2. every tool's resolution steps (hack/build-tools.sh with RESOLVE_ONLY=1:
#     each wrapper module's `go mod download`, the k8s replace check, `go list
#     -deps` of each command) succeed from an empty GOMODCACHE and GOCACHE;
#  3. the main module resolves every package make test and make demo build
#     (`go mod download`, then `go list -deps -test ./...`);
#  4. go.mod and go.sum are tidy (`go mod tidy -diff`), in the main module and
#     in every wrapper module;
#  5. nothing in the build, the tests or the demo reads a file outside the
#     repository (../shared exists beside our clones only).
#
# Downloads come from the machine's own module cache served as a file proxy
# (so the check costs no network when the cache is warm), falling back to the
# real proxy for anything it lacks.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
START=$SECONDS

log() { printf '[check-fresh +%ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

real_modcache="$("$GO" env GOMODCACHE)"
real_proxy="$("$GO" env GOPROXY)"
work="$(mktemp -d "${TMPDIR:-/tmp}/check-fresh.XXXXXX")"
# The module cache is written read-only; make it removable.
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

fresh_env() {
  env GOMODCACHE="$work/mod" GOCACHE="$work/cache" GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=readonly \
    GOPROXY="file://$real_modcache/cache/download,$real_proxy" GONOSUMDB='*' GOSUMDB=off BIN="$work/bin" "$@"
}

# 1. A refusal is named.
log "1/5 no module proxy: build-tools.sh must stop at its download step, naming the module"
mkdir -p "$work/bin"
if out="$(env GOMODCACHE="$work/mod-none" GOCACHE="$work/cache-none" GOPROXY=off GOFLAGS=-mod=readonly BIN="$work/bin" \
  "$ROOT/hack/build-tools.sh" apiserver 2>&1)"; then
  fail "build-tools.sh apiserver succeeded with GOPROXY=off and an empty module cache"
fi
grep -q 'cannot download the modules of hack/tools/k8s' <<<"$out" ||
  fail "build-tools.sh did not name the module it could not download; it printed: $(tail -n 5 <<<"$out")"
chmod -R u+w "$work/mod-none" 2>/dev/null || true

# 2. Every tool resolves from empty caches.
log "2/5 RESOLVE_ONLY=1 hack/build-tools.sh all anchors, empty GOMODCACHE and GOCACHE"
fresh_env RESOLVE_ONLY=1 "$ROOT/hack/build-tools.sh" all anchors >"$work/tools.log" 2>&1 ||
  { cat "$work/tools.log" >&2; fail "a tool's resolution steps fail from empty caches"; }

# 3. The main module.
log "3/5 the main module: go mod download, go list -deps -test ./..."
(cd "$ROOT" && fresh_env "$GO" mod download) || fail "go mod download failed in the main module"
(cd "$ROOT" && fresh_env "$GO" list -deps -test ./... >/dev/null) || fail "the main module's packages do not resolve from go.sum"

# 4. Tidy.
log "4/5 go mod tidy -diff in every module"
while IFS= read -r mod; do
  dir="$(dirname "$mod")"
  (cd "$dir" && fresh_env "$GO" mod tidy -diff >"$work/tidy.diff" 2>&1) ||
    { cat "$work/tidy.diff" >&2; fail "${dir#"$ROOT"}/go.mod or go.sum is not tidy: run go mod tidy there"; }
done < <(cd "$ROOT" && git ls-files --full-name -- '*go.mod' | sed "s|^|$ROOT/|")

# 5. Nothing outside the repository.
log "5/5 nothing reads ../shared"
if hits="$(cd "$ROOT" && git grep -nE '\.\./shared|"\.\.", "shared"|"\.\.", "\.\.", "\.\.", "shared"' -- \
  ':!hack/check-fresh.sh' ':!*.md')"; then
  fail "files read outside the repository: $hits"
fi
log "ok: resolution from empty caches, tidy modules, no reads outside the repository"
