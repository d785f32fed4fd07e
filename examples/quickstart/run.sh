#!/usr/bin/env bash
# The quickstart: a local OCI registry and GitOps repository, the embedded Temporal dev
# server and a worker, the quickstart manifests; then the whole path of a release: an
# image pushed to the registry becomes Freight, auto-promotes to dev, is verified there,
# soaks, and auto-promotes to staging; a second push follows on the Warehouse's timer.
#
#   QUICKSTART_DIR   where the GitOps repository lives (fixed by stages.yaml: /tmp/gantry-quickstart)
#   GANTRY_DATA_DIR  Temporal's SQLite file and the workers' work directories
#   QUICKSTART_PORT  Temporal frontend port (default 7233; Web UI on 8233)
#   KEEP_RUNNING=1   leave the dev server, worker and registry running at the end
# The registry listens on 127.0.0.1:5001 (fixed by project.yaml); it needs the Debian
# package docker-registry (`make quickstart` installs it when run as root).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
gantry="${GANTRY:-$repo_root/.venv/bin/gantry}"
python="${PYTHON:-$repo_root/.venv/bin/python}"
qs_dir="/tmp/gantry-quickstart"
registry_host=127.0.0.1:5001
export GANTRY_DATA_DIR="${GANTRY_DATA_DIR:-$HOME/.local/share/gantry}"
port="${QUICKSTART_PORT:-7233}"
export TEMPORAL_ADDRESS="127.0.0.1:$port"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
registry_bin="$(command -v docker-registry || command -v registry || true)"
[ -n "$registry_bin" ] || { echo "needs an OCI registry: apt-get install docker-registry (make quickstart does it as root)"; exit 1; }

step "GitOps repository: $qs_dir/gitops.git"
rm -rf "$qs_dir" && mkdir -p "$qs_dir"
git init -q --bare -b main "$qs_dir/gitops.git"
git init -q -b main "$qs_dir/seed"
cp -r "$here/gitops-seed/." "$qs_dir/seed/"
git -C "$qs_dir/seed" add -A
git -C "$qs_dir/seed" -c user.name=Quickstart -c user.email=quickstart@localhost commit -q -m "GitOps repository for the quickstart"
git -C "$qs_dir/seed" push -q "$qs_dir/gitops.git" main
git --git-dir="$qs_dir/gitops.git" log --oneline main

pids=()
cleanup() {
  if [ "${KEEP_RUNNING:-0}" != 1 ]; then kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; fi
}
trap cleanup EXIT

step "OCI registry ($registry_bin) on $registry_host"
cat > "$qs_dir/registry.yml" <<YAML
version: 0.1
storage:
  filesystem: {rootdirectory: $qs_dir/registry}
http:
  addr: $registry_host
log: {level: error}
YAML
"$registry_bin" serve "$qs_dir/registry.yml" > "$qs_dir/registry.log" 2>&1 & pids+=($!)
registry_up() { "$python" -c "import httpx, sys; httpx.get('http://$registry_host/v2/').raise_for_status()" 2>/dev/null; }
for _ in $(seq 1 100); do registry_up && break; sleep 0.1; done
registry_up || { echo "the registry did not start:"; cat "$qs_dir/registry.log"; exit 1; }

step "Temporal dev server and worker (gantry dev), data in $GANTRY_DATA_DIR"
# The GitOps repository is a local path and the verification job runs on the worker: both
# are off on a worker unless the operator turns them on (docs/security.md).
"$gantry" dev --port "$port" --ui-port $((port + 1000)) --allow-local-repos --allow-local-jobs \
  > "$qs_dir/dev.log" 2>&1 & pids+=($!)
dev_pid=$!
for _ in $(seq 1 150); do
  grep -q "Worker running" "$qs_dir/dev.log" 2>/dev/null && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$qs_dir/dev.log"; exit 1; }
  sleep 0.2
done
grep -q "Worker running" "$qs_dir/dev.log" || { echo "gantry dev did not start:"; cat "$qs_dir/dev.log"; exit 1; }
cat "$qs_dir/dev.log"

step "gantry validate / apply"
"$gantry" validate -f "$here/manifests"
# a fresh start: the data directory keeps projects between runs, and a quickstart project of
# an earlier run would have newer Freight than the image pushed below
"$gantry" delete project quickstart --force --ignore-not-found
"$gantry" apply -f "$here/manifests"

# wait until STAGE's current Freight has alias ALIAS (and, with "verified", is verified there)
wait_for_stage() {
  local stage=$1 tag=$2 deadline=$((SECONDS + 120))
  until "$gantry" get freight -p quickstart -o json | "$python" -c "
import json, sys
stage, tag = sys.argv[1], sys.argv[2]
for f in json.load(sys.stdin)['items']:
    if any(i.get('tag') == tag for i in f.get('images', [])):
        status = f.get('status') or {}
        sys.exit(0 if stage in (status.get('currentlyIn') or {}) and stage in (status.get('verifiedIn') or {}) else 1)
sys.exit(1)" "$stage" "$tag"; do
    [ $SECONDS -lt $deadline ] || { echo "FAILED: $tag did not reach $stage"; "$gantry" get stages -p quickstart; exit 1; }
    sleep 1
  done
  echo "$tag is in $stage, verified"
}

step "CI pushes guestbook:1.0.0 to the registry; the Warehouse discovers it now (refresh --wait)"
"$python" "$here/push_image.py" "$registry_host" guestbook 1.0.0
"$gantry" refresh warehouse guestbook -p quickstart --wait
"$gantry" get freight -p quickstart

step "The Freight auto-promotes to dev, where verification checks the deployed tag"
wait_for_stage dev 1.0.0
"$gantry" get stage dev -p quickstart

step "After 15 s of soak in dev it auto-promotes to staging"
wait_for_stage staging 1.0.0
"$gantry" get stages -p quickstart

step "CI pushes guestbook:1.1.0; the Warehouse finds it on its 10 s timer, no refresh needed"
"$python" "$here/push_image.py" "$registry_host" guestbook 1.1.0
wait_for_stage dev 1.1.0
wait_for_stage staging 1.1.0

step "The commits the promotions pushed"
git --git-dir="$qs_dir/gitops.git" log --format='%h %s' main
for env in dev staging; do
  if git --git-dir="$qs_dir/gitops.git" show "main:env/$env/kustomization.yaml" | grep -q '1\.1\.0'; then
    echo "OK: $env now runs $registry_host/guestbook:1.1.0"
  else
    echo "FAILED: env/$env/kustomization.yaml does not name 1.1.0"; exit 1
  fi
done
"$gantry" get warehouses -p quickstart
"$gantry" get promotions -p quickstart
echo "prod is promoted by hand: $gantry promote -p quickstart --stage prod --freight <alias> --wait"
if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  echo "Temporal Web: http://127.0.0.1:$((port + 1000))  (pids ${pids[*]}; kill them when done)"
  trap - EXIT
else
  echo "Run '$gantry dev --allow-local-repos --allow-local-jobs' to browse these workflows in Temporal Web at http://127.0.0.1:8233"
fi
