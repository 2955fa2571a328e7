#!/usr/bin/env bash
# install-debian.sh COMMAND PACKAGE...: installs Debian packages when COMMAND
# is not on PATH (a fresh machine has nothing installed by hand): promtool from
# prometheus for `make test-rules`, prometheus and chromium for
# `make dashboard-screenshot`. Needs root (apt-get), like the rest of make test.
set -euo pipefail
cmd="$1"
shift
if command -v "$cmd" >/dev/null 2>&1; then
  exit 0
fi
echo "install-debian: $cmd missing, installing $*" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
command -v "$cmd" >/dev/null || { echo "install-debian: $* installed but $cmd is still not on PATH" >&2; exit 1; }
