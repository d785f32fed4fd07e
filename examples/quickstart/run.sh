#!/usr/bin/env bash
# The quickstart: a local GitOps repository, the embedded Temporal dev server and a
# worker, the quickstart manifests, one Freight, and its promotion to dev.
#
#   QUICKSTART_DIR   where the GitOps repository lives (fixed by stages.yaml: /tmp/gantry-quickstart)
#   GANTRY_DATA_DIR  Temporal's SQLite file and the workers' work directories
#   QUICKSTART_PORT  Temporal frontend port (default 7233; Web UI on 8233)
#   KEEP_RUNNING=1   leave the dev server and worker running at the end, for Temporal Web
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
gantry="${GANTRY:-$repo_root/.venv/bin/gantry}"
qs_dir="/tmp/gantry-quickstart"
export GANTRY_DATA_DIR="${GANTRY_DATA_DIR:-$HOME/.local/share/gantry}"
port="${QUICKSTART_PORT:-7233}"
export TEMPORAL_ADDRESS="127.0.0.1:$port"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "GitOps repository: $qs_dir/gitops.git"
rm -rf "$qs_dir" && mkdir -p "$qs_dir"
git init -q --bare -b main "$qs_dir/gitops.git"
git init -q -b main "$qs_dir/seed"
cp -r "$here/gitops-seed/." "$qs_dir/seed/"
git -C "$qs_dir/seed" add -A
git -C "$qs_dir/seed" -c user.name=Quickstart -c user.email=quickstart@localhost commit -q -m "GitOps repository for the quickstart"
git -C "$qs_dir/seed" push -q "$qs_dir/gitops.git" main
git --git-dir="$qs_dir/gitops.git" log --oneline main

step "Temporal dev server and worker (gantry dev), data in $GANTRY_DATA_DIR"
"$gantry" dev --port "$port" --ui-port $((port + 1000)) > "$qs_dir/dev.log" 2>&1 &
dev_pid=$!
cleanup() { if [ "${KEEP_RUNNING:-0}" != 1 ]; then kill "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
for _ in $(seq 1 150); do
  grep -q "Worker running" "$qs_dir/dev.log" 2>/dev/null && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$qs_dir/dev.log"; exit 1; }
  sleep 0.2
done
grep -q "Worker running" "$qs_dir/dev.log" || { echo "gantry dev did not start:"; cat "$qs_dir/dev.log"; exit 1; }
cat "$qs_dir/dev.log"

step "gantry validate / apply"
"$gantry" validate -f "$here/manifests"
"$gantry" apply -f "$here/manifests"
"$gantry" get stages -p quickstart

step "gantry freight create (the image a Warehouse would discover)"
tag="1.0.$(date +%s)"
"$gantry" freight create -p quickstart --image "quickstart.local/guestbook:$tag" --alias "guestbook-$tag" 
"$gantry" get freight -p quickstart

step "gantry promote --stage dev --wait"
"$gantry" promote -p quickstart --stage dev --freight "guestbook-$tag" --wait

step "The commit the promotion pushed"
git --git-dir="$qs_dir/gitops.git" log -1 --stat main
git --git-dir="$qs_dir/gitops.git" show main:env/dev/kustomization.yaml
if git --git-dir="$qs_dir/gitops.git" show main:env/dev/kustomization.yaml | grep -q "newTag: \"\?$tag"; then
  echo "OK: dev now runs quickstart.local/guestbook:$tag"
else
  echo "FAILED: env/dev/kustomization.yaml does not name tag $tag"; exit 1
fi

"$gantry" get promotions -p quickstart
if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  echo "Temporal Web: http://127.0.0.1:$((port + 1000))  (dev server pid $dev_pid; kill it when done)"
  trap - EXIT
else
  echo "Run '$gantry dev' to browse this promotion in Temporal Web at http://127.0.0.1:8233"
fi
