#!/usr/bin/env bash
# Benchmarks, side by side in one run (SPEC §11). Reports ratios, not absolute times.
#   bash benches/run.sh            # needs hyperfine (apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
# hyperfine >= 1.16 (for --input: stdin without a shell in the measurement). Debian's is
# older; build one into target/ when needed.
hyperfine=$(command -v hyperfine || true)
if [ -z "$hyperfine" ] || ! "$hyperfine" --help | grep -q -- '--input'; then
  hyperfine=$PWD/target/bench-tools/bin/hyperfine
  [ -x "$hyperfine" ] || cargo install hyperfine@1.20.0 --locked --quiet --root "$PWD/target/bench-tools"
fi

cargo build --release --locked --quiet
bin=$PWD/target/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_CACHE_HOME=$work/home/.cache
mkdir -p "$HOME"

# Inputs: the same request for every helper.
printf 'protocol=https\nhost=github.com\npath=example/kargo-demo.git\n' >"$work/git-request"
printf 'protocol=https\nhost=github.com\npath=bench/app.git\n' >"$work/git-request-bench"

# The peer: git's own credential-store with 20 entries, the match among them.
for i in $(seq 1 19); do echo "https://user$i:pass$i@host$i.example.com" ; done >"$work/store"
echo "https://demo-bot:token@github.com" >>"$work/store"

# 20 Secrets: the committed examples. 10,000: generated (half patterns, match near the end).
python3 benches/gen_secrets.py "$work/secrets-10k" 10000
cp -r examples/secrets "$work/secrets-20"; chmod -R go-rwx "$work/secrets-20"

# No shell (-N): the process itself is measured, stdin from a file. Medians: a noisy
# neighbour inflates a mean more than a median.
run() { "$hyperfine" -N --warmup 50 --min-runs 500 --input "$2" --export-json "$work/$1.json" "$3" >/dev/null; }
mean() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$work/$1.json"; }

run store   "$work/git-request"       "git credential-store --file $work/store get"
run kargo20 "$work/git-request"       "$bin/git-credential-kargo --secrets-dir $work/secrets-20 --project kargo-demo get"
run kargo10k "$work/git-request-bench" "$bin/git-credential-kargo --secrets-dir $work/secrets-10k --project kargo-demo get"
# Cold: no summary index (every manifest parsed), for reference.
"$hyperfine" -N --warmup 2 --runs 10 --input "$work/git-request-bench" --export-json "$work/cold10k.json" \
  "$bin/git-credential-kargo --no-cache --secrets-dir $work/secrets-10k --project kargo-demo get" >/dev/null

python3 - "$(mean store)" "$(mean kargo20)" "$(mean kargo10k)" "$(mean cold10k)" <<'PY'
import sys
store, k20, k10k, cold = map(float, sys.argv[1:])
ms = lambda s: f"{s * 1000:.2f} ms"
print("| measurement | median | ratio | target |")
print("| --- | --- | --- | --- |")
print(f"| `git credential-store get` (peer) | {ms(store)} | 1.00 | |")
print(f"| `git-credential-kargo get`, 20 Secrets | {ms(k20)} | {k20 / store:.2f}x peer | <= 1.5x |")
print(f"| `git-credential-kargo get`, 10,000 Secrets (half patterns, match near the end) | {ms(k10k)} | {k10k / k20:.2f}x the 20-Secret get | <= 10x |")
print(f"| the same, cold (`--no-cache`: every manifest parsed, no summary index) | {ms(cold)} | {cold / k20:.2f}x the 20-Secret get | (reference) |")
PY

# The kubernetes source against the fake API server: 1,000 Secrets in the project namespace.
kube=$work/kube
python3 - "$kube" <<'PY'
import base64, json, os, sys
root = sys.argv[1]
b64 = lambda s: base64.b64encode(s.encode()).decode()
for ns, count in (("kargo-demo", 1000), ("kargo-shared-resources", 10)):
    os.makedirs(f"{root}/secrets/{ns}", exist_ok=True)
    for i in range(count):
        url = "https://github.com/bench/app" if (ns, i) == ("kargo-demo", 999) else f"https://github.com/org-{i}/repo-{i}"
        secret = {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": f"cred-{i:04d}", "namespace": ns, "labels": {"kargo.akuity.io/cred-type": "git"}},
                  "data": {"repoURL": b64(url), "username": b64(f"user-{i}"), "password": b64(f"pw-{i}")}}
        with open(f"{root}/secrets/{ns}/cred-{i:04d}.json", "w") as f:
            json.dump(secret, f)
PY
python3 tests/support/fake_kube.py --state-dir "$kube" --token bench-token --exit-on-stdin-eof >"$work/kube.out" 2>/dev/null < <(sleep 100000) &
kube_pid=$!
trap 'kill $kube_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q PORT= "$work/kube.out" 2>/dev/null && break; sleep 0.1; done
export KUBECONFIG=$kube/kubeconfig
printf 'protocol=https\nhost=github.com\npath=bench/app\n' >"$work/git-request-kube"
"$bin/git-credential-kargo" --source kubernetes --project kargo-demo get <"$work/git-request-kube" >/dev/null
: >"$kube/requests.jsonl"
"$bin/git-credential-kargo" --source kubernetes --project kargo-demo get <"$work/git-request-kube" >/dev/null
python3 - "$kube/requests.jsonl" <<'PY'
import json, sys
lists = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lists = [r for r in lists if r["verb"] == "list"]
per_ns = {}
for r in lists:
    per_ns.setdefault(r["namespace"], []).append(r)
a, b = (per_ns.get("kargo-demo", [None])[0], per_ns.get("kargo-shared-resources", [None])[0])
overlap = a and b and a["start"] < b["end"] and b["start"] < a["end"]
print(f"kubernetes source, one get: {len(lists)} LIST requests ({', '.join(f'{ns}: {len(rs)}' for ns, rs in per_ns.items())}); both namespaces in flight at once: {bool(overlap)}")
PY
mkdir -p "$work/secrets-1k/kargo-demo"
python3 - "$kube/secrets/kargo-demo" "$work/secrets-1k/kargo-demo" <<'PY'
import os, sys, shutil
src, dst = sys.argv[1:]
for name in os.listdir(src):
    shutil.copy(f"{src}/{name}", f"{dst}/{name}")
    os.chmod(f"{dst}/{name}", 0o600)
PY
run kube1k "$work/git-request-kube" "$bin/git-credential-kargo --source kubernetes --project kargo-demo get"
run dir1k "$work/git-request-kube" "$bin/git-credential-kargo --secrets-dir $work/secrets-1k --project kargo-demo get"
python3 -c 'import sys; k, d = map(float, sys.argv[1:]); print(f"| `git-credential-kargo get`, kubernetes source (fake API server, 1,000 Secrets) | {k*1000:.2f} ms | {k/d:.2f}x the dir source with the same Secrets ({d*1000:.2f} ms) | (reference) |")' "$(mean kube1k)" "$(mean dir1k)"

# GitHub App tokens against the fake GitHub API: a cache hit vs the static get, and 64
# concurrent cold gets for one repository (must mint once).
gh=$work/github
mkdir -p "$gh/state" "$gh/secrets/kargo-demo"
openssl genrsa -traditional -out "$gh/app.pem" 2048 2>/dev/null
python3 tests/support/fake_github.py --public-key "$gh/app.pem" --app-id 12345 --installation 777 \
  --state-dir "$gh/state" --exit-on-stdin-eof >"$gh/out" 2>/dev/null < <(sleep 100000) &
gh_pid=$!
trap 'kill $kube_pid $gh_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q PORT= "$gh/out" 2>/dev/null && break; sleep 0.1; done
gh_port=$(sed -n 's/^PORT=//p' "$gh/out")
python3 - "$gh" <<'PY'
import json, sys
root = sys.argv[1]
key = open(f"{root}/app.pem").read()
secret = {"apiVersion": "v1", "kind": "Secret",
          "metadata": {"name": "github-app", "namespace": "kargo-demo", "labels": {"kargo.akuity.io/cred-type": "git"}},
          "stringData": {"repoURL": "^https://github\\.com/bench/", "repoURLIsRegex": "true",
                         "githubAppID": "12345", "githubAppInstallationID": "777", "githubAppPrivateKey": key}}
with open(f"{root}/secrets/kargo-demo/app.json", "w") as f:
    json.dump(secret, f)
PY
chmod 600 "$gh/secrets/kargo-demo/app.json"
printf 'protocol=https\nhost=github.com\npath=bench/app.git\n' >"$work/git-request-app"
printf 'protocol=https\nhost=github.com\npath=bench/cold.git\n' >"$work/git-request-cold"
gh_env="KARGO_CREDS_GITHUB_API_URL=http://127.0.0.1:$gh_port KARGO_CREDS_GITHUB_VALIDATION_WAITS=0.05,0.05,0.05"
app_get="$bin/git-credential-kargo --secrets-dir $gh/secrets --project kargo-demo get"
env $gh_env $app_get <"$work/git-request-app" >/dev/null   # warm the cache
export KARGO_CREDS_GITHUB_API_URL=http://127.0.0.1:$gh_port KARGO_CREDS_GITHUB_VALIDATION_WAITS=0.05,0.05,0.05
run apphit "$work/git-request-app" "$app_get"
python3 - "$app_get" "$work/git-request-cold" "$gh/state/mints.jsonl" <<'PY'
import subprocess, sys, time
command, request, mints = sys.argv[1].split(), open(sys.argv[2], "rb").read(), sys.argv[3]
before = sum(1 for _ in open(mints))
start = time.monotonic()
procs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(64)]
outs = [p.communicate(request)[0] for p in procs]
elapsed = time.monotonic() - start
minted = sum(1 for _ in open(mints)) - before
ok = all(p.returncode == 0 for p in procs) and len(set(outs)) == 1
print(f"64 concurrent cold gets of one GitHub App repository: {minted} mint(s), all succeeded with one token: {ok}, wall time {elapsed*1000:.0f} ms")
PY
python3 -c 'import sys; a, s = map(float, sys.argv[1:]); print(f"| `git-credential-kargo get`, cached GitHub App token | {a*1000:.2f} ms | {a/s:.2f}x the static 20-Secret get | <= 1.2x |")' "$(mean apphit)" "$(mean kargo20)"

# ECR: a cached docker-credential-kargo get vs Debian's docker-credential-ecr-login (its own
# file cache warm), both against one moto behind benches/aws_proxy.py.
ecr=$work/ecr
mkdir -p "$ecr/secrets" "$ecr/ecr-cache"
ecr_host=123456789012.dkr.ecr.us-east-1.amazonaws.com
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=bench-ca -days 2 -keyout "$ecr/ca.key" -out "$ecr/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=api.ecr.us-east-1.amazonaws.com -keyout "$ecr/tls.key" -out "$ecr/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:api.ecr.us-east-1.amazonaws.com\n' >"$ecr/san.ext"
openssl x509 -req -in "$ecr/tls.csr" -CA "$ecr/ca.pem" -CAkey "$ecr/ca.key" -CAcreateserial -days 2 -extfile "$ecr/san.ext" -out "$ecr/tls.pem" 2>/dev/null
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$moto_port" >"$ecr/moto.log" 2>&1 &
moto_pid=$!
python3 benches/aws_proxy.py --moto-port "$moto_port" --cert "$ecr/tls.pem" --key "$ecr/tls.key" >"$ecr/proxy.out" 2>"$ecr/proxy.err" < <(sleep 100000) &
proxy_pid=$!
trap 'kill ${kube_pid:-} ${gh_pid:-} $moto_pid $proxy_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q 'Running on' "$ecr/moto.log" 2>/dev/null && grep -q PORT= "$ecr/proxy.out" && break; sleep 0.1; done
proxy_port=$(sed -n 's/^PORT=//p' "$ecr/proxy.out")
printf '%s' "$ecr_host" >"$work/ecr-request"
# One environment for both (each ignores the other's variables): the same AWS keys; ours
# reaches the proxy through AWS_ENDPOINT_URL, the peer (no endpoint override) through
# HTTPS_PROXY with the bench CA.
export AWS_ACCESS_KEY_ID=AKIABENCHMARK0000001 AWS_SECRET_ACCESS_KEY=benchmarkSecretKey0000000000000000000000
export AWS_ENDPOINT_URL=http://127.0.0.1:$proxy_port HTTPS_PROXY=http://127.0.0.1:$proxy_port
export SSL_CERT_FILE=$ecr/ca.pem AWS_ECR_CACHE_DIR=$ecr/ecr-cache KARGO_CREDS_SECRETS_DIR=$ecr/secrets
ours="$bin/docker-credential-kargo get"
peer="docker-credential-ecr-login get"
$ours <"$work/ecr-request" >"$ecr/ours.json"   # warm both caches
# Go's crypto/x509 here reads only the system bundle (not SSL_CERT_FILE): the peer's one
# cold call runs in a mount namespace where the bundle also holds the bench CA. The measured
# (warm) calls make no connection at all.
cat /etc/ssl/certs/ca-certificates.crt "$ecr/ca.pem" >"$ecr/bundle.pem"
with_bench_ca="mount --bind $ecr/bundle.pem /etc/ssl/certs/ca-certificates.crt && exec $peer"
unshare -m sh -c "$with_bench_ca" <"$work/ecr-request" >"$ecr/peer.json" 2>/dev/null \
  || unshare -rm sh -c "$with_bench_ca" <"$work/ecr-request" >"$ecr/peer.json" \
  || { echo "the ECR comparison needs a mount namespace (root or user namespaces)"; cat "$ecr/peer.json"; exit 1; }
python3 - "$ecr/ours.json" "$ecr/peer.json" <<'PY'
import json, sys
ours, peer = (json.load(open(p)) for p in sys.argv[1:])
assert ours["Username"] == peer["Username"] == "AWS" and ours["Secret"] and peer["Secret"], (ours.keys(), peer.keys())
PY
posts=$(grep -c '"POST / HTTP' "$ecr/moto.log")
run ecrkargo "$work/ecr-request" "$ours"
run ecrlogin "$work/ecr-request" "$peer"
[ "$(grep -c '"POST / HTTP' "$ecr/moto.log")" = "$posts" ] || echo "warning: a measured ECR get reached moto (a cache miss)"
python3 -c 'import sys; k, e = map(float, sys.argv[1:]); print(f"| `docker-credential-ecr-login get`, its cache warm (peer) | {e*1000:.2f} ms | 1.00 | |"); print(f"| `docker-credential-kargo get`, cached ECR token (ambient AWS keys) | {k*1000:.2f} ms | {k/e:.2f}x peer | <= 0.5x |")' "$(mean ecrkargo)" "$(mean ecrlogin)"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL HTTPS_PROXY SSL_CERT_FILE AWS_ECR_CACHE_DIR KARGO_CREDS_SECRETS_DIR

ls -l "$bin/git-credential-kargo" "$bin/docker-credential-kargo" "$bin/kargo-creds" | awk '{print "binary size:", $5, $9}'
/usr/bin/time -f 'peak RSS of a warm get: %M KiB' "$bin/git-credential-kargo" --secrets-dir "$work/secrets-20" --project kargo-demo get <"$work/git-request" >/dev/null
