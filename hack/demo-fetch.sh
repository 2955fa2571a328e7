#!/usr/bin/env bash
# make demo (first version): start the fake AWS with the user's secret, run
# `aws-secrets-injector fetch` on the user's SecretProviderClass into a fresh
# tmpfs (a temp dir when not root), print the files, stop the fake.
# Expects `make build` to have built bin/aws-secrets-injector and bin/fakeaws.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
for b in aws-secrets-injector fakeaws; do
  [[ -x $BIN/$b ]] || { echo "demo: $BIN/$b missing: run make build" >&2; exit 1; }
done

# The user's manifest: the project's own copy (test/examples).
SPC=$ROOT/test/examples/testdata/seed-secretproviderclass.yaml

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aws-secrets-injector-demo.XXXXXX")
OUT=$WORK/secrets
FAKE_PID=
MOUNTED=
cleanup() {
  if [[ -n $FAKE_PID ]]; then kill "$FAKE_PID" 2>/dev/null || true; wait "$FAKE_PID" 2>/dev/null || true; fi
  if [[ -n $MOUNTED ]]; then umount "$OUT" 2>/dev/null || umount -l "$OUT" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cat >"$WORK/state.yaml" <<'YAML'
region: us-east-1
users:
  - accessKeyId: AKIDEXAMPLE
    secretAccessKey: example-secret
    allow: ["my-app/*", "/my-app/*"]
secrets:
  - name: my-app/db-credentials
    value: '{"username":"admin","password":"supersecretpassword"}'
YAML

echo "== starting the fake AWS on loopback"
"$BIN/fakeaws" --addr 127.0.0.1:0 --state "$WORK/state.yaml" >"$WORK/fake.out" 2>"$WORK/fake.err" &
FAKE_PID=$!
URL=
for _ in $(seq 1 100); do
  URL=$(sed -n 's/^fakeaws ready on //p' "$WORK/fake.out" 2>/dev/null || true)
  [[ -n $URL ]] && break
  kill -0 "$FAKE_PID" 2>/dev/null || { cat "$WORK/fake.err" >&2; echo "demo: fakeaws exited" >&2; exit 1; }
  sleep 0.1
done
[[ -n $URL ]] || { cat "$WORK/fake.err" >&2; echo "demo: fakeaws did not start within 10s" >&2; exit 1; }
echo "   $URL"

mkdir -p "$OUT"
if [[ $(id -u) == 0 ]] && mount -t tmpfs -o size=4m,mode=0755,nosuid,nodev,noexec tmpfs "$OUT" 2>/dev/null; then
  MOUNTED=1
  echo "== fresh tmpfs at $OUT"
else
  echo "== not root (or no tmpfs): writing into the temp dir $OUT"
fi

echo "== aws-secrets-injector fetch --spc $SPC --out $OUT"
env -u AWS_PROFILE -u AWS_SESSION_TOKEN \
  AWS_ENDPOINT_URL="$URL" AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=example-secret \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  "$BIN/aws-secrets-injector" fetch --spc "$SPC" --out "$OUT" --timeout 20s

echo "== files (as the pod sees them)"
for f in "$OUT"/*; do
  printf '%s = %s\n' "$(basename "$f")" "$(cat "$f")"
done
[[ $(cat "$OUT/db-user") == admin && $(cat "$OUT/db-password") == supersecretpassword ]] || {
  echo "demo: unexpected content" >&2; exit 1; }
echo "== AWS calls seen by the fake: $(curl -fsS "$URL/_fake/calls" 2>/dev/null | tr -d '\n' | sed -n 's/.*"total":\([0-9]*\).*/\1/p')"
echo "== ok"
