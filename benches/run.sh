#!/usr/bin/env bash
# Benchmarks, side by side in one run (SPEC §11): every ratio against a peer measured in the
# same run, start-up time, peak RSS, binary sizes and a scaling curve. Writes BENCHMARKS.md
# and benches/scaling.png (both committed), and prints the report.
#   bash benches/run.sh     # needs hyperfine >= 1.16 (built when missing), moto_server,
#                           # docker-credential-ecr-login, GNU time; matplotlib (installed
#                           # from PyPI when missing). Binaries: $CARGO_TARGET_DIR or target/.
# Profiling the warm get (deterministic instruction counts, symbols kept):
#   cargo build --profile profiling && valgrind --tool=callgrind \
#     target/profiling/git-credential-kargo --secrets-dir DIR --project P get <request
# Exit status 1 when a SPEC §11 target does not hold (the report is written either way).
# BENCH_QUICK=1: a few runs of each, to try the script itself (its figures mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# Binaries and tools go where cargo puts them (CARGO_TARGET_DIR, .cargo/config, or target/).
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# hyperfine >= 1.16 (for --input: stdin without a shell in the measurement). Debian's is
# older; build one into the target folder when needed.
hyperfine=$(command -v hyperfine || true)
if [ -z "$hyperfine" ] || ! "$hyperfine" --help | grep -q -- '--input'; then
  hyperfine=$target_dir/bench-tools/bin/hyperfine
  [ -x "$hyperfine" ] || cargo install hyperfine@1.20.0 --locked --quiet --root "$target_dir/bench-tools"
fi
# The plot only (the bench is not part of CI).
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet matplotlib

cargo build --release --locked --quiet
bin=$target_dir/release
rustc_version=$(rustc --version)   # before HOME moves (rustup finds its toolchains there)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_CACHE_HOME=$work/home/.cache
mkdir -p "$HOME" "$work/results"
results=$work/results
# Facts that are not hyperfine runs: one JSON value per file, read by benches/report.py.
fact() { printf '%s\n' "$2" >"$results/$1.fact.json"; }
fact started "\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\""
fact machine "$(RUSTC_VERSION=$rustc_version python3 -c '
import json, os, platform, subprocess
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print(json.dumps({"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "rustc": os.environ["RUSTC_VERSION"],
                  "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()}))')"
fact load_before "\"$(cut -d' ' -f1-3 /proc/loadavg)\""

# Inputs: the same request for every helper.
printf 'protocol=https\nhost=github.com\npath=example/kargo-demo.git\n' >"$work/git-request"
printf 'protocol=https\nhost=github.com\npath=bench/app.git\n' >"$work/git-request-bench"
printf 'protocol=https\n' >"$work/git-request-empty"

# The peer: git's own credential-store with 20 entries, the match among them. Entries carry
# the path (as git stores them with credential.useHttpPath, which kargo's wiring sets): an
# entry without one never matches a request with a path, and the peer would answer nothing.
for i in $(seq 1 19); do echo "https://user$i:pass$i@host$i.example.com/org/repo$i.git"; done >"$work/store"
echo "https://demo-bot:token@github.com/example/kargo-demo.git" >>"$work/store"
: >"$work/store-empty"

# 20 Secrets: the committed examples. 10 to 10,000: generated (half patterns, the match a
# pattern that sorts last).
cp -r examples/secrets "$work/secrets-20"; chmod -R go-rwx "$work/secrets-20"
scale_counts=(10 100 1000 10000)
for n in "${scale_counts[@]}"; do python3 benches/gen_secrets.py "$work/secrets-$n" "$n"; done

# Every measured command must give the answer it is measured for: a fast failure must not
# pass for a fast answer. (Also warms the summary indexes.)
expect() { # expect TEXT INPUT COMMAND...
  local text=$1 input=$2; shift 2
  local out; out=$("$@" <"$input" 2>&1) || { echo "benchmark setup: $* failed: $out" >&2; exit 1; }
  case $out in *"$text"*) ;; *) echo "benchmark setup: $* answered without $text: $out" >&2; exit 1 ;; esac
}

# No shell (-N): the process itself is measured, stdin from a file. Medians: a noisy
# neighbour inflates a mean more than a median.
runs=(--warmup 50 --min-runs 500)
[ -z "${BENCH_QUICK:-}" ] || runs=(--warmup 2 --runs 5)
run() { "$hyperfine" -N "${runs[@]}" --input "$2" --export-json "$results/$1.json" "$3" >/dev/null; }

git_get() { echo "$bin/git-credential-kargo --secrets-dir $1 --project kargo-demo ${2:-} get"; }
expect password=token "$work/git-request" git credential-store --file "$work/store" get
expect password=ghp_ "$work/git-request" $(git_get "$work/secrets-20")
expect password=bench-password "$work/git-request-bench" $(git_get "$work/secrets-10000")

run store "$work/git-request" "git credential-store --file $work/store get"
run kargo20 "$work/git-request" "$(git_get "$work/secrets-20")"
run kargo10k "$work/git-request-bench" "$(git_get "$work/secrets-10000")"
# Cold: no summary index (every manifest parsed), for reference.
"$hyperfine" -N --warmup 2 --runs 10 --input "$work/git-request-bench" --export-json "$results/cold10k.json" \
  "$(git_get "$work/secrets-10000" --no-cache)" >/dev/null
"$hyperfine" -N "${runs[@]}" --input "$work/git-request" --export-json "$results/cold20.json" \
  "$(git_get "$work/secrets-20" --no-cache)" >/dev/null

# Start-up: a request that names no repository (git sends one when it has no host to ask
# about), answered by exiting at once — the cost of starting the process, parsing flags and
# loading settings, with no lookup. The peer, git credential-store on an empty store, is given
# the same input. And `version` for both docker helpers.
expect "" "$work/git-request-empty" $(git_get "$work/secrets-20")
run startgit "$work/git-request-empty" "$(git_get "$work/secrets-20")"
run startstore "$work/git-request-empty" "git credential-store --file $work/store-empty get"
run startdocker "$work/git-request-empty" "$bin/docker-credential-kargo version"
run startecr "$work/git-request-empty" "docker-credential-ecr-login version"

# Peak RSS (/usr/bin/time %M: the largest resident set, KiB), the largest of 5 runs.
rss() { # rss NAME INPUT COMMAND...
  local name=$1 input=$2 most=0 kib; shift 2
  for _ in 1 2 3 4 5; do
    kib=$(/usr/bin/time -f %M "$@" <"$input" 2>&1 >/dev/null | tail -n 1)
    [ "$kib" -gt "$most" ] && most=$kib
  done
  fact "rss_$name" "$most"
}
rss store "$work/git-request" git credential-store --file "$work/store" get
rss kargo20 "$work/git-request" $(git_get "$work/secrets-20")
for n in "${scale_counts[@]}"; do rss "kargo_s$n" "$work/git-request-bench" $(git_get "$work/secrets-$n"); done
rss cold10k "$work/git-request-bench" $(git_get "$work/secrets-10000" --no-cache)

# The scaling curve: warm gets (summary index in place, static credentials, the match a
# pattern sorting last) with 10 .. 10,000 Secrets, N processes started at once (1, 8, 64),
# and the peer (20 entries) at the same concurrency. Per cell: median wall time of a round
# (first start to last exit), that divided by N, and the median CPU time of one get.
fanout() { # fanout NAME CONCURRENCY EXPECT INPUT COMMAND...
  local name=$1 c=$2 text=$3 input=$4 rounds warmup; shift 4
  case $c in 1) rounds=200 warmup=10 ;; 8) rounds=40 warmup=4 ;; *) rounds=12 warmup=2 ;; esac
  [ -z "${BENCH_QUICK:-}" ] || rounds=3 warmup=1
  python3 benches/fanout.py --concurrency "$c" --rounds "$rounds" --warmup "$warmup" \
    --input "$input" --expect "$text" --out "$results/$name.fanout.json" -- "$@"
}
for c in 1 8 64; do
  fanout "store_c$c" "$c" password=token "$work/git-request" git credential-store --file "$work/store" get
  for n in "${scale_counts[@]}"; do
    fanout "kargo_s${n}_c$c" "$c" password=bench-password "$work/git-request-bench" $(git_get "$work/secrets-$n")
  done
done

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
expect password=pw-999 "$work/git-request-kube" "$bin/git-credential-kargo" --source kubernetes --project kargo-demo get
: >"$kube/requests.jsonl"
"$bin/git-credential-kargo" --source kubernetes --project kargo-demo get <"$work/git-request-kube" >/dev/null
python3 - "$kube/requests.jsonl" "$results/kube_lists.fact.json" <<'PY'
import json, sys
lists = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
lists = [r for r in lists if r["verb"] == "list"]
per_ns = {}
for r in lists:
    per_ns.setdefault(r["namespace"], []).append(r)
a, b = (per_ns.get("kargo-demo", [None])[0], per_ns.get("kargo-shared-resources", [None])[0])
overlap = bool(a and b and a["start"] < b["end"] and b["start"] < a["end"])
json.dump({"lists": len(lists), "per_namespace": {ns: len(rs) for ns, rs in per_ns.items()}, "overlap": overlap},
          open(sys.argv[2], "w"))
PY
mkdir -p "$work/secrets-1k/kargo-demo"
python3 - "$kube/secrets/kargo-demo" "$work/secrets-1k/kargo-demo" <<'PY'
import os, sys, shutil
src, dst = sys.argv[1:]
for name in os.listdir(src):
    shutil.copy(f"{src}/{name}", f"{dst}/{name}")
    os.chmod(f"{dst}/{name}", 0o600)
PY
expect password=pw-999 "$work/git-request-kube" $(git_get "$work/secrets-1k")
run kube1k "$work/git-request-kube" "$bin/git-credential-kargo --source kubernetes --project kargo-demo get"
run dir1k "$work/git-request-kube" "$(git_get "$work/secrets-1k")"

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
export KARGO_CREDS_GITHUB_API_URL=http://127.0.0.1:$gh_port KARGO_CREDS_GITHUB_VALIDATION_WAITS=0.05,0.05,0.05
app_get=$(git_get "$gh/secrets")
expect password= "$work/git-request-app" $app_get   # warm the cache
mints_before=$(wc -l <"$gh/state/mints.jsonl")
run apphit "$work/git-request-app" "$app_get"
[ "$(wc -l <"$gh/state/mints.jsonl")" = "$mints_before" ] || echo "warning: a measured cached GitHub App get minted (a cache miss)"
rss apphit "$work/git-request-app" $app_get
python3 - "$app_get" "$work/git-request-cold" "$gh/state/mints.jsonl" "$results/app_cold64.fact.json" <<'PY'
import json, subprocess, sys, time
command, request, mints = sys.argv[1].split(), open(sys.argv[2], "rb").read(), sys.argv[3]
before = sum(1 for _ in open(mints))
start = time.monotonic()
procs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(64)]
outs = [p.communicate(request)[0] for p in procs]
elapsed = time.monotonic() - start
minted = sum(1 for _ in open(mints)) - before
succeeded = sum(1 for p, out in zip(procs, outs) if p.returncode == 0 and b"password=" in out)
json.dump({"processes": 64, "mints": minted, "succeeded": succeeded, "distinct_answers": len(set(outs)),
           "wall_s": elapsed}, open(sys.argv[4], "w"))
PY
unset KARGO_CREDS_GITHUB_API_URL KARGO_CREDS_GITHUB_VALIDATION_WAITS

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
rss ecrkargo "$work/ecr-request" $ours
rss ecrlogin "$work/ecr-request" $peer
[ "$(grep -c '"POST / HTTP' "$ecr/moto.log")" = "$posts" ] || echo "warning: a measured ECR get reached moto (a cache miss)"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL HTTPS_PROXY SSL_CERT_FILE AWS_ECR_CACHE_DIR KARGO_CREDS_SECRETS_DIR

for name in git-credential-kargo docker-credential-kargo kargo-creds; do
  fact "size_$name" "$(stat -c %s "$bin/$name")"
done
fact size_git-credential-store "$(stat -c %s "$(git --exec-path)/git-credential-store")"
fact size_docker-credential-ecr-login "$(stat -L -c %s "$(command -v docker-credential-ecr-login)")"

fact commit "\"$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bin Cargo.toml Cargo.lock || echo ' (with uncommitted changes)')\""
fact load_after "\"$(cut -d' ' -f1-3 /proc/loadavg)\""

python3 benches/report.py "$results" "$repo/BENCHMARKS.md" "$repo/benches/scaling.png"
