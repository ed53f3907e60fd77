#!/usr/bin/env bash
# Benchmarks, side by side in one run (SPEC §11). Reports ratios, not absolute times.
#   bash benches/run.sh            # needs hyperfine (apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install -y hyperfine" >&2; exit 1; }

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

# hyperfine measures its shell's start-up and subtracts it, so `< file` costs nothing here.
run() { hyperfine --warmup 20 --min-runs 200 --export-json "$work/$1.json" "$3 < $2" >/dev/null; }
mean() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$work/$1.json"; }

run store   "$work/git-request"       "git credential-store --file $work/store get"
run kargo20 "$work/git-request"       "$bin/git-credential-kargo --secrets-dir $work/secrets-20 --project kargo-demo get"
run kargo10k "$work/git-request-bench" "$bin/git-credential-kargo --secrets-dir $work/secrets-10k --project kargo-demo get"

python3 - "$(mean store)" "$(mean kargo20)" "$(mean kargo10k)" <<'PY'
import sys
store, k20, k10k = map(float, sys.argv[1:])
ms = lambda s: f"{s * 1000:.2f} ms"
print("| measurement | mean | ratio | target |")
print("| --- | --- | --- | --- |")
print(f"| `git credential-store get` (peer) | {ms(store)} | 1.00 | |")
print(f"| `git-credential-kargo get`, 20 Secrets | {ms(k20)} | {k20 / store:.2f}x peer | <= 1.5x |")
print(f"| `git-credential-kargo get`, 10,000 Secrets (half patterns, match near the end) | {ms(k10k)} | {k10k / k20:.2f}x the 20-Secret get | <= 10x |")
PY
ls -l "$bin/git-credential-kargo" "$bin/docker-credential-kargo" "$bin/kargo-creds" | awk '{print "binary size:", $5, $9}'
/usr/bin/time -f 'peak RSS of a warm get: %M KiB' "$bin/git-credential-kargo" --secrets-dir "$work/secrets-20" --project kargo-demo get <"$work/git-request" >/dev/null
