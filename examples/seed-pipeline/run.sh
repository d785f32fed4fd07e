#!/usr/bin/env bash
# The seed document's pipeline on the embedded dev server: dev (auto) -> staging (auto,
# integration tests + Prometheus checks) -> prod (manual, after the soak in staging, through a
# pull request, then the same checks).
# Needs Prometheus (Debian: apt-get install prometheus). FAST=1 (default) shortens the
# metric interval to 5s and the soak to 1m; FAST=0 keeps the seed's 30s and 1h.
# The GitOps repository is served on 127.0.0.1:3000 by a loopback Gitea (the test suite's
# fake: git over HTTP and Gitea's pull-request API). The script merges prod's pull request as
# a reviewer would; MERGE_BY_HAND=1 stops there and prints the command to merge it yourself.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
gantry="${GANTRY:-$root/.venv/bin/gantry}"
python="${PYTHON:-$root/.venv/bin/python}"
work=/tmp/gantry-seed
export GANTRY_DATA_DIR="${GANTRY_DATA_DIR:-$work/data}"
export TEMPORAL_ADDRESS=127.0.0.1:7233
command -v prometheus >/dev/null || { echo "needs prometheus: apt-get install prometheus"; exit 1; }

rm -rf "$work" && mkdir -p "$work"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "==> GitOps repository $work/gitops.git"
git init -q --bare -b main "$work/gitops.git"
git init -q -b main "$work/seed"
for env in dev staging prod; do
  mkdir -p "$work/seed/env/$env"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n' > "$work/seed/env/$env/kustomization.yaml"
done
git -C "$work/seed" add -A
git -C "$work/seed" -c user.name=seed -c user.email=seed@localhost commit -q -m seed
git -C "$work/seed" push -q "$work/gitops.git" main

echo "==> Git host (Gitea API) on 127.0.0.1:3000 serving seed/gitops"
token="seed-$RANDOM$RANDOM"
PYTHONPATH="$root" "$python" -m tests.fakes.serve gitea --root "$work/githost" --port 3000 --token "$token" \
  --repo "seed/gitops=$work/gitops.git" > "$work/githost.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do grep -q "API at" "$work/githost.log" 2>/dev/null && break; sleep 0.1; done
repo=http://127.0.0.1:3000/seed/gitops.git
# the worker's credential for the repository (the API token): looked up inside activities only
export GANTRY_GIT_CREDENTIALS_SEED_URL=http://127.0.0.1:3000/ GANTRY_GIT_CREDENTIALS_SEED_PASSWORD="$token"

echo "==> demo app and Prometheus on 127.0.0.1:9090"
"$python" "$here/demo_app.py" 9101 0.01 & pids+=($!)
printf 'global: {scrape_interval: 2s}\nscrape_configs:\n- job_name: demo\n  static_configs: [{targets: ["127.0.0.1:9101"]}]\n' > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address=127.0.0.1:9090 > "$work/prometheus.log" 2>&1 & pids+=($!)

echo "==> gantry dev"
# the integration-test job runs on the worker: an opt-in (docs/security.md)
"$gantry" dev --allow-local-jobs > "$work/dev.log" 2>&1 & pids+=($!)
for _ in $(seq 1 150); do grep -q "Worker running" "$work/dev.log" && break; sleep 0.2; done

manifests="$work/manifests.yaml"
if [ "${FAST:-1}" = 1 ]; then
  sed -e 's/interval: 30s/interval: 5s/' -e 's/requiredSoakTime: 1h/requiredSoakTime: 1m/' "$here/manifests.yaml" > "$manifests"
else
  cp "$here/manifests.yaml" "$manifests"
fi
"$gantry" apply -f "$manifests"

echo "==> new Freight: it flows to dev and staging by itself"
"$gantry" freight create -p seed-pipeline --image my-registry/my-app:1.0.0 --alias release-1
verified_in_staging() {
  "$gantry" get freight -p seed-pipeline release-1 -o json \
    | "$python" -c "import json, sys; f = json.load(sys.stdin); sys.exit('staging' not in f['status'].get('verifiedIn', {}))"
}
until verified_in_staging; do sleep 2; done
"$gantry" get stages -p seed-pipeline

echo "==> prod is manual: after the soak in staging it opens a pull request and waits for review"
started=$("$gantry" promote -p seed-pipeline --stage prod --freight release-1 --wait-for-soak)
echo "$started"
name=$(echo "$started" | sed -n 's/^promotion \([^ ]*\) started.*/\1/p')
api=http://127.0.0.1:3000/api/v1/repos/seed/gitops
until curl -sf -H "Authorization: token $token" "$api/pulls?state=open" | grep -q '"number"'; do sleep 2; done
"$gantry" get stage prod -p seed-pipeline
merge="curl -sf -X POST -H 'Authorization: token $token' -H 'Content-Type: application/json' -d '{\"Do\": \"merge\"}' $api/pulls/1/merge"
if [ "${MERGE_BY_HAND:-0}" = 1 ]; then
  echo "prod waits for review. Merge the pull request as a reviewer would:"
  echo "  $merge"
  echo "then watch: $gantry get promotion $name -p seed-pipeline --watch"
  trap - EXIT
  wait
fi
echo "==> a reviewer merges it"
sh -c "$merge"
"$gantry" get promotion "$name" -p seed-pipeline --watch
"$gantry" get freight -p seed-pipeline
git --git-dir="$work/githost/seed/gitops.git" log --oneline main
