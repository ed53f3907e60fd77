#!/usr/bin/env bash
# Checks the .deb build-deb.sh made: its file list against packaging/deb-files.txt (any
# difference fails), owners and modes, the control fields, and that the unpacked binaries,
# man pages and completions work.
#
#   bash packaging/check-deb.sh [path.deb]
#   bash packaging/check-deb.sh --update [path.deb]   rewrite deb-files.txt from the package
#                                                     (after adding a subcommand: new man page)
set -euo pipefail
cd "$(dirname "$0")/.."

update=false
if [ "${1:-}" = "--update" ]; then
  update=true
  shift
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
deb=${1:-${CARGO_TARGET_DIR:-target}/debian/kargo-creds_${version}_${arch}.deb}
expected_list=packaging/deb-files.txt
failures=0

log() { printf '==> %s\n' "$*"; }
fail() {
  printf 'check-deb: %s\n' "$*" >&2
  failures=$((failures + 1))
}

[ -f "$deb" ] || { echo "check-deb: no package at $deb (run packaging/build-deb.sh)" >&2; exit 1; }
log "checking $deb ($(du -h "$deb" | cut -f1))"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the file list -----------------------------------------------------------------------
# `dpkg-deb -c` prints tar's listing: mode owner/group size date time ./path
dpkg-deb -c "$deb" >"$work/contents"
awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' "$work/contents" | LC_ALL=C sort >"$work/files"
if $update; then
  { echo "# Files the .deb installs (packaging/check-deb.sh compares; --update rewrites)."
    cat "$work/files"; } >"$expected_list"
  log "wrote $expected_list ($(wc -l <"$work/files") files)"
fi
grep -v '^#' "$expected_list" | LC_ALL=C sort >"$work/expected"
if ! diff -u "$work/expected" "$work/files" >"$work/files.diff"; then
  fail "the file list differs from $expected_list (- expected, + in the package; a new subcommand adds a man page: bash packaging/check-deb.sh --update):"
  sed -n '3,$p' "$work/files.diff" | grep '^[-+]' >&2
fi

# Owners and modes: everything root/root; binaries 0755, everything else 0644, dirs 0755.
while read -r mode owner _ _ _ path _; do
  path=${path#.}
  [ "$owner" = root/root ] || fail "$path is owned by $owner, not root/root"
  case "$mode:$path" in
    d*) [ "$mode" = drwxr-xr-x ] || fail "directory $path has mode $mode" ;;
    *:/usr/bin/*) [ "$mode" = -rwxr-xr-x ] || fail "$path has mode $mode, not 0755" ;;
    *) [ "$mode" = -rw-r--r-- ] || fail "$path has mode $mode, not 0644" ;;
  esac
done <"$work/contents"

# --- control fields ----------------------------------------------------------------------
dpkg-deb -I "$deb" >/dev/null || fail "dpkg-deb -I cannot read the control archive"
field() { dpkg-deb -f "$deb" "$1"; }
expect_field() { # name, extended regular expression
  local value
  value=$(field "$1")
  [[ $value =~ $2 ]] || fail "control field $1 is '$value', expected /$2/"
}
expect_field Package '^kargo-creds$'
expect_field Version "^${version//./\\.}$"
expect_field Architecture "^$arch$"
expect_field Maintainer '^[^<>]+ <[^<>@ ]+@[^<>@ ]+>$'
expect_field Depends '(^|, )libc6 \(>= [0-9.]+\)'
expect_field Recommends '(^|, )git($|,| )'
expect_field Section '^(vcs|utils)$'
expect_field Installed-Size '^[0-9]+$'
expect_field Description '^credential helpers .+'
field Description | grep -q '^ kargo-creds explains' || fail "the long description is missing"

# --- unpacked, the binaries run ----------------------------------------------------------
dpkg-deb -x "$deb" "$work/root"
bin="$work/root/usr/bin"
run() { # expected stdout, command…
  local expected=$1 actual
  shift
  if ! actual=$(env -i PATH=/usr/bin:/bin HOME="$work" "$@" 2>"$work/stderr"); then
    fail "$* failed: $(cat "$work/stderr")"
  elif [ "$actual" != "$expected" ]; then
    fail "$* printed '$actual', expected '$expected'"
  fi
}
run "kargo-creds $version" "$bin/kargo-creds" version
run "git-credential-kargo $version" "$bin/git-credential-kargo" --version
run "docker-credential-kargo (kargo-creds) $version" "$bin/docker-credential-kargo" version

# --- man pages: gzip'd roff, one per binary at least -------------------------------------
for page in kargo-creds git-credential-kargo docker-credential-kargo; do
  [ -f "$work/root/usr/share/man/man1/$page.1.gz" ] || fail "no man page for $page"
done
for page in "$work"/root/usr/share/man/man1/*; do
  if ! gzip -dc "$page" >"$work/page" 2>"$work/stderr"; then
    fail "${page#"$work/root"} does not gunzip: $(cat "$work/stderr")"
  elif ! grep -q '^\.TH ' "$work/page"; then
    fail "${page#"$work/root"} has no .TH header"
  fi
done

# --- completions: parse in their shells where installed ----------------------------------
bash -n "$work/root/usr/share/bash-completion/completions/kargo-creds" \
  || fail "the bash completion does not parse"
if command -v zsh >/dev/null; then
  zsh -n "$work/root/usr/share/zsh/vendor-completions/_kargo-creds" || fail "the zsh completion does not parse"
fi
if command -v fish >/dev/null; then
  fish --no-execute "$work/root/usr/share/fish/vendor_completions.d/kargo-creds.fish" \
    || fail "the fish completion does not parse"
fi

if ((failures)); then
  echo "check-deb: $failures problem(s) in $deb" >&2
  exit 1
fi
log "ok: $(wc -l <"$work/files") files, $(field Depends | tr -d '\n'), $(du -h "$deb" | cut -f1)"
