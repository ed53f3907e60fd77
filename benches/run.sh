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
ls -l "$bin/git-credential-kargo" "$bin/docker-credential-kargo" "$bin/kargo-creds" | awk '{print "binary size:", $5, $9}'
/usr/bin/time -f 'peak RSS of a warm get: %M KiB' "$bin/git-credential-kargo" --secrets-dir "$work/secrets-20" --project kargo-demo get <"$work/git-request" >/dev/null
