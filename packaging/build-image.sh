#!/usr/bin/env bash
# Builds the runner image from packaging/Dockerfile with docker, or podman when there is no
# docker. The base images (rust:1-bookworm, debian:bookworm-slim) come from Docker Hub: on a
# machine without access to it (such as the one this was written on) the build cannot run —
# point ENGINE at a builder with a mirror, or pre-pull the two images.
#
#   bash packaging/build-image.sh [extra build flags…]   IMAGE=registry/kargo-creds:tag to name it
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
image=${IMAGE:-kargo-creds:$version}
engine=${ENGINE:-$(command -v docker || command -v podman || true)}
if [ -z "$engine" ]; then
  echo "build-image: neither docker nor podman is installed (or set ENGINE)" >&2
  exit 1
fi

# BuildKit for the cache mounts (podman/buildah support them natively).
export DOCKER_BUILDKIT=1
printf '==> %s build -f packaging/Dockerfile -t %s .\n' "$engine" "$image"
"$engine" build -f packaging/Dockerfile -t "$image" "$@" .
printf '==> built %s; try: %s run --rm %s version\n' "$image" "$engine" "$image"
