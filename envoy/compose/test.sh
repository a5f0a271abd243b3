#!/usr/bin/env bash
# `make compose-test`: runs envoy/docker-compose.yaml for real, with the loopback override, on a
# private Docker daemon, and walks the demo form through it with a client that keeps no cookies.
#
#  1. As root, installs Debian's Docker engine, docker-compose, redis-server and curl when missing.
#  2. Checks that every Envoy config shipped for compose passes `envoy --mode validate` (on the host
#     and inside the Envoy image), needs COOKIELESS_KEY, and that both configs carry the same filter.
#  3. Starts dockerd under a temp folder (own socket, data root, pidfile; no bridge, no iptables, no
#     ip_forward change), builds every image locally without pulling (envoy/compose/build-images.sh
#     --stand-ins: the Envoy and Redis images are stand-ins made of this machine's binaries, tagged
#     with the names the compose file uses), and brings the stack up on host networking.
#  4. Walks /step1 -> /step2 -> /confirm through Envoy on 127.0.0.1 only (no cookie jar: tokens ride
#     in forms and in Location), restarting one of the two sessiond replicas half-way, then killing
#     the other: the confirmation page must still show both answers, since the session lives in
#     Redis and either replica serves it.
#  5. Tears everything down (`down`, dockerd stopped by its PID, temp folder removed), also on failure.
#
# Needs: make build (filter, demo app, cookieless-sessiond; Envoy in .venv).
# Environment: ENVOY (Envoy for host-side validation, default .venv/bin/envoy), CARGO_TARGET_DIR,
# COOKIELESS_WASM (the filter to test, default target/wasm32-wasip1/release/cookieless.wasm),
# COMPOSE_TEST_KEEP_TMP=1 keeps the temp folder (logs) after a failure.
set -Eeuo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

started=$SECONDS
passed=0
failed=0
check="setup"
T=""
dockerd_pid=""
stack_up=false
ip_forward_before=""

say() { echo "compose-test: $*"; }
ok() { passed=$((passed + 1)); say "ok: $check ($((SECONDS - started)) s)"; }
die() {
  failed=$((failed + 1))
  echo "compose-test: FAIL: $check: $*" >&2
  exit 1
}
step() { check="$1"; say "--- $check"; }

# --- the fixed parts -------------------------------------------------------------------------------
PROJECT=cookieless-compose-test
COMPOSE_FILES=(-f envoy/docker-compose.yaml -f envoy/compose/docker-compose.loopback.yaml)
# Must match envoy/compose/envoy.loopback.yaml and docker-compose.loopback.yaml.
ENVOY_PORT=18000 ADMIN_PORT=18001 DEMO_PORT=18080 SESSIOND_PORT=18051 SESSIOND_2_PORT=18052 REDIS_PORT=18379
BASE="http://127.0.0.1:$ENVOY_PORT"
UA="cookieless-compose-test/1"
target="${CARGO_TARGET_DIR:-$root/target}"
# The filter under test; docker-compose.yaml mounts the same file (COOKIELESS_WASM).
WASM="$(realpath -m "${COOKIELESS_WASM:-$target/wasm32-wasip1/release/cookieless.wasm}")"
export COOKIELESS_WASM="$WASM"
ENVOY="${ENVOY:-$root/.venv/bin/envoy}"
DOCKER=/usr/bin/docker          # Debian's client, the same release as its dockerd
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
    if [ "$rc" -eq 130 ]; then
      echo "compose-test: FAIL: $check: interrupted" >&2
    else
      echo "compose-test: FAIL: $check: unexpected error (exit $rc); see the output above" >&2
    fi
  fi
  if $stack_up; then
    if [ "$failed" -ne 0 ]; then
      say "logs of the stack (last 60 lines per service):"
      timeout 60 "${COMPOSE[@]}" logs --no-color --tail=60 2>&1 | sed 's/^/    /'
    fi
    timeout 120 "${COMPOSE[@]}" down --remove-orphans --timeout 5 >"$T/down.log" 2>&1 ||
      { say "docker-compose down failed:"; cat "$T/down.log"; }
  fi
  stop_dockerd
  if [ -n "$ip_forward_before" ] && [ "$(cat /proc/sys/net/ipv4/ip_forward)" != "$ip_forward_before" ]; then
    say "restoring net.ipv4.ip_forward=$ip_forward_before (dockerd changed it)"
    echo "$ip_forward_before" >/proc/sys/net/ipv4/ip_forward
  fi
  if [ -n "$T" ] && [ -d "$T" ]; then
    # Nothing of the daemon may stay mounted before the folder goes.
    awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    if [ "$failed" -ne 0 ] && [ "${COMPOSE_TEST_KEEP_TMP:-0}" = 1 ]; then
      say "kept $T (dockerd.log, curl replies)"
    else
      rm -rf --one-file-system "$T"
    fi
  fi
  say "total $((SECONDS - started)) s"
  say "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] || exit 1
  exit 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "compose-test: command failed (line $LINENO, exit $?): $BASH_COMMAND" >&2' ERR

stop_dockerd() {
  [ -n "$dockerd_pid" ] || return 0
  local pid="$dockerd_pid"
  [ -s "$T/docker.pid" ] && pid="$(cat "$T/docker.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      say "dockerd (pid $pid) still running after 30 s: SIGKILL"
      kill -KILL "$pid"
    fi
  fi
  wait "$dockerd_pid" 2>/dev/null
  # dockerd stops the containerd it started; anything else still running from our temp folder
  # (a container shim after a hard stop) is ours alone: stop it by PID.
  local left
  # (The folder is passed through the environment so that awk's own arguments do not match.)
  left="$(ps -eo pid=,args= | MATCH="$T/" awk 'index($0, ENVIRON["MATCH"]) { print $1 }')"
  for p in $left; do
    say "stopping leftover process $p: $(ps -o args= -p "$p")"
    kill -KILL "$p" 2>/dev/null
  done
  dockerd_pid=""
}

# --- 0. prerequisites ------------------------------------------------------------------------------
step "prerequisites"
[ "$(id -u)" = 0 ] || die "must run as root (installs packages, starts its own dockerd)"
missing=()
# Debian's Docker engine package is named "docker" + ".io"; it is spelled in two parts here so that
# no file of the project names a registry host.
engine_pkg="docker.""io"
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || missing+=("$engine_pkg")
[ -x "$DOCKER" ] || missing+=("$engine_pkg")
command -v docker-compose >/dev/null || missing+=(docker-compose)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v curl >/dev/null || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian 12 packages Compose v1 (docker-compose); use the v2 plugin only if that is all there is.
if command -v docker-compose >/dev/null; then
  COMPOSE_BIN=(docker-compose)
elif "$DOCKER" compose version >/dev/null 2>&1; then
  COMPOSE_BIN=("$DOCKER" compose)
else
  die "neither docker-compose nor the docker compose plugin is available"
fi
COMPOSE=("${COMPOSE_BIN[@]}" -p "$PROJECT" "${COMPOSE_FILES[@]}")
[ -f "$WASM" ] || die "no filter at $WASM (run: make build)"
[ -x "$target/release/demo" ] || die "no demo app at $target/release/demo (run: make build)"
[ -x "$target/release/cookieless-sessiond" ] ||
  die "no session service at $target/release/cookieless-sessiond (run: make build)"
[ -x "$ENVOY" ] || die "no Envoy at $ENVOY (run: make setup)"
for port in $ENVOY_PORT $ADMIN_PORT $DEMO_PORT $SESSIOND_PORT $REDIS_PORT; do
  if [ -n "$(ss -Hltn "sport = :$port")" ]; then
    die "127.0.0.1:$port is already in use; the loopback stack needs ports $ENVOY_PORT $ADMIN_PORT $DEMO_PORT $SESSIOND_PORT $REDIS_PORT"
  fi
done
say "using $("${COMPOSE_BIN[@]}" version --short 2>/dev/null || "${COMPOSE_BIN[@]}" version | awk 'NR == 1'), $(dockerd --version)"
T="$(mktemp -d /tmp/cookieless-compose.XXXXXX)"
COOKIELESS_KEY="$(head -c 32 /dev/urandom | base64)"
export COOKIELESS_KEY
ok

# --- 1. the Envoy configs for compose --------------------------------------------------------------
step "Envoy configs for compose validate"
for cfg in envoy/compose/envoy.yaml envoy/compose/envoy.loopback.yaml; do
  grep -q 'filename: /etc/envoy/cookieless.wasm' "$cfg" || die "$cfg does not load /etc/envoy/cookieless.wasm"
  copy="$T/validate-$(basename "$cfg")"
  sed "s#/etc/envoy/cookieless.wasm#$WASM#" "$cfg" >"$copy"
  "$ENVOY" --mode validate -c "$copy" --disable-hot-restart --log-level error >"$T/validate.log" 2>&1 ||
    die "$cfg fails envoy --mode validate:$(printf '\n'; cat "$T/validate.log")"
  if env -u COOKIELESS_KEY "$ENVOY" --mode validate -c "$copy" --disable-hot-restart --log-level error \
    >"$T/validate-nokey.log" 2>&1; then
    die "$cfg validates without COOKIELESS_KEY: the key must come from the environment"
  fi
  grep -q 'COOKIELESS_KEY' "$T/validate-nokey.log" ||
    die "without COOKIELESS_KEY, Envoy does not say what is missing:$(printf '\n'; cat "$T/validate-nokey.log")"
done
filters_of() { sed -n '/^          http_filters:/,/^  clusters:/p' "$1"; }
diff <(filters_of envoy/compose/envoy.yaml) <(filters_of envoy/compose/envoy.loopback.yaml) >"$T/filters.diff" ||
  die "envoy/compose/envoy.yaml and envoy.loopback.yaml configure the filter differently:$(printf '\n'; cat "$T/filters.diff")"
grep -q '"kind": "grpc", "cluster": "sessiond"' envoy/compose/envoy.yaml || die "the filter does not use the gRPC store"
# The user stack (bridge network) cannot run here, but both compose files must parse as given.
"${COMPOSE_BIN[@]}" -f envoy/docker-compose.yaml config -q 2>"$T/config.log" ||
  die "envoy/docker-compose.yaml is not a valid compose file:$(printf '\n'; cat "$T/config.log")"
"${COMPOSE[@]}" config -q 2>"$T/config.log" ||
  die "the loopback override does not merge:$(printf '\n'; cat "$T/config.log")"
ok

# --- 2. a private Docker daemon and the images -----------------------------------------------------
step "private dockerd and local images"
ip_forward_before="$(cat /proc/sys/net/ipv4/ip_forward)"
# No default bridge, no iptables, no ip_forward: nothing on the host's network changes, and every
# container runs on host networking anyway. Own containerd namespaces, in case the daemon finds a
# system containerd to share.
dockerd --host "unix://$T/docker.sock" --data-root "$T/root" --exec-root "$T/exec" \
  --pidfile "$T/docker.pid" --bridge none --iptables=false --ip6tables=false --ip-forward=false \
  --ip-masq=false --containerd-namespace "$PROJECT" --containerd-plugins-namespace "$PROJECT-plugins" \
  >"$T/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST="unix://$T/docker.sock"
for _ in $(seq 1 120); do
  "$DOCKER" info >/dev/null 2>&1 && break
  kill -0 "$dockerd_pid" 2>/dev/null || die "dockerd exited at start:$(printf '\n'; tail -n 20 "$T/dockerd.log")"
  sleep 0.5
done
"$DOCKER" info >/dev/null 2>&1 || die "dockerd not ready in 60 s:$(printf '\n'; tail -n 20 "$T/dockerd.log")"
DOCKER="$DOCKER" envoy/compose/build-images.sh --stand-ins || die "building the images failed"
# The compose stack must find every image locally: nothing can be pulled here.
for image in $("${COMPOSE[@]}" config | awk '$1 == "image:" { print $2 }'); do
  "$DOCKER" image inspect "$image" >/dev/null 2>&1 || die "image $image was not built locally"
done
# The Envoy image itself validates each config as compose mounts it (as uid 101, like the official
# image): paths inside the container, file permissions.
envoy_image="$("${COMPOSE[@]}" config | awk '$1 == "image:" && /envoy/ && !f { print $2; f = 1 }')"
for cfg in envoy/compose/envoy.yaml envoy/compose/envoy.loopback.yaml; do
  "$DOCKER" run --rm --network none -e COOKIELESS_KEY \
    -v "$root/$cfg:/etc/envoy/envoy.yaml:ro" -v "$WASM:/etc/envoy/cookieless.wasm:ro" "$envoy_image" \
    envoy --mode validate -c /etc/envoy/envoy.yaml --disable-hot-restart --log-level error >"$T/validate-image.log" 2>&1 ||
    die "$envoy_image refuses $cfg:$(printf '\n'; cat "$T/validate-image.log")"
done
ok

# --- 3. the stack ----------------------------------------------------------------------------------
step "docker-compose up (loopback)"
stack_up=true
timeout 180 "${COMPOSE[@]}" up -d --no-build >"$T/up.log" 2>&1 || die "docker-compose up failed:$(printf '\n'; cat "$T/up.log")"
running="$("$DOCKER" ps --format '{{.Names}}' | sort | tr '\n' ' ')"
[ "$("$DOCKER" ps -q | wc -l)" -eq 5 ] || die "expected 5 running containers (envoy, demo, sessiond, sessiond-2, redis), got: $running"
for id in $("$DOCKER" ps -q); do
  mode="$("$DOCKER" inspect -f '{{.Name}} {{.HostConfig.NetworkMode}}' "$id")"
  [ "${mode##* }" = host ] || die "container not on host networking: $mode"
done
say "running on host networking: $running"
for _ in $(seq 1 120); do
  [ "$(curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/ready" || true)" = "LIVE" ] && break
  sleep 0.5
done
[ "$(curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/ready" || true)" = "LIVE" ] ||
  die "Envoy admin http://127.0.0.1:$ADMIN_PORT/ready is not LIVE after 60 s"
for _ in $(seq 1 60); do
  [ -n "$(ss -Hltn "sport = :$DEMO_PORT")" ] && [ -n "$(ss -Hltn "sport = :$SESSIOND_PORT")" ] &&
    [ -n "$(ss -Hltn "sport = :$SESSIOND_2_PORT")" ] && break
  sleep 0.5
done
[ -n "$(ss -Hltn "sport = :$DEMO_PORT")" ] || die "the demo app does not listen on 127.0.0.1:$DEMO_PORT"
[ -n "$(ss -Hltn "sport = :$SESSIOND_PORT")" ] || die "sessiond does not listen on 127.0.0.1:$SESSIOND_PORT"
[ -n "$(ss -Hltn "sport = :$SESSIOND_2_PORT")" ] || die "sessiond-2 does not listen on 127.0.0.1:$SESSIOND_2_PORT"
ok

# --- 4. the demo form without cookies, with a sessiond restart half-way ----------------------------
# req NAME PATH [curl args]: the reply's status (000: no reply); headers and body in
# $T/NAME.{headers,body}. A GET, or a POST when given --data-urlencode. No cookie jar (curl keeps
# none unless asked), no redirect following, one fixed User-Agent (tokens are bound to it).
req() {
  local name="$1" path="$2"
  shift 2
  curl -sS --max-time 20 -A "$UA" -o "$T/$name.body" -D "$T/$name.headers" \
    -w '%{http_code}' "$@" "$BASE$path" || true
}
# (No `| head` or `| grep -q` after a producer: with pipefail, its SIGPIPE would fail the step.)
header() { # the first value of a response header
  awk -v n="$2" '!f && tolower($0) ~ "^" tolower(n) ":" { sub(/^[^:]*: */, ""); sub(/\r$/, ""); print; f = 1 }' "$T/$1.headers"
}
field() { sed -n "s/.*name=\"$2\" value=\"\([^\"]*\)\".*/\1/p" "$T/$1.body" | awk 'NR == 1'; }
sessiond_flags() { # sessiond_flags PORT: Envoy's health flags of that replica
  local clusters
  clusters="$(curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/clusters" || true)"
  awk -F'::' -v h="127.0.0.1:$1" '$1 == "sessiond" && $2 == h && $3 == "health_flags" { print $4 }' <<<"$clusters"
}
sessiond_served() { # sessiond_served PORT: calls that replica answered (Envoy's rq_success)
  local clusters
  clusters="$(curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/clusters" || true)"
  awk -F'::' -v h="127.0.0.1:$1" '$1 == "sessiond" && $2 == h && $3 == "rq_success" { print $4 }' <<<"$clusters"
}
sessiond_healthy() { # Envoy's active health check sees both replicas of the session service healthy
  [ "$(sessiond_flags "$SESSIOND_PORT")" = healthy ] && [ "$(sessiond_flags "$SESSIOND_2_PORT")" = healthy ]
}
no_cookies() { ! grep -qi '^set-cookie:' "$T/$1.headers" || die "$1: the browser was sent a Set-Cookie"; }
expect() { # expect NAME WANTED GOT
  [ "$3" = "$2" ] || die "$1: HTTP $3, expected $2; headers:$(printf '\n'; cat "$T/$1.headers" 2>/dev/null)$(printf '\n'; head -c 2000 "$T/$1.body" 2>/dev/null)"
}
stat_of() { # a counter from Envoy's admin /stats (regex on its name), empty when absent
  local stats
  stats="$(curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/stats" || true)"
  awk -F': ' -v n="$1" '!found && $1 ~ n"$" { print $2; found = 1 }' <<<"$stats"
}

step "demo flow through the compose stack, session kept across a sessiond restart and the loss of the other replica"
for _ in $(seq 1 30); do sessiond_healthy && break; sleep 0.5; done
sessiond_healthy || die "Envoy does not see both sessiond replicas healthy: $(sessiond_flags "$SESSIOND_PORT") $(sessiond_flags "$SESSIOND_2_PORT")"
code="$(req step1 /step1)"; expect step1 200 "$code"
no_cookies step1
token="$(header step1 x-cookieless-token)"
[ -n "$token" ] || die "GET /step1: the app set a cookie but the filter handed out no token (x-cookieless-token); \
Envoy counts sessions_created=$(stat_of cookieless_sessions_created) store_errors=$(stat_of cookieless_store_errors) \
sessiond_calls=$(stat_of 'cluster\.sessiond\.upstream_rq_total')"
csrf="$(field step1 csrfmiddlewaretoken)"
form_token="$(field step1 sessionid)"
[ -n "$csrf" ] || die "GET /step1: no csrfmiddlewaretoken field"
[ -n "$form_token" ] || die "GET /step1: the filter added no hidden sessionid field to the form"

code="$(req post1 /step1 -H "Origin: $BASE" --data-urlencode "name=Ada" \
  --data-urlencode "csrfmiddlewaretoken=$csrf" --data-urlencode "sessionid=$form_token")"
expect post1 303 "$code"
no_cookies post1
location="$(header post1 location)"
case "$location" in /step2\?sessionid=*) ;; *) die "POST /step1: Location is '$location', expected /step2?sessionid=..." ;; esac

code="$(req step2 "$location")"; expect step2 200 "$code"
no_cookies step2
grep -qF 'Hello, Ada.' "$T/step2.body" || die "GET /step2 lost the name (the session did not carry over)"
csrf="$(field step2 csrfmiddlewaretoken)"
form_token="$(field step2 sessionid)"
[ -n "$csrf" ] && [ -n "$form_token" ] || die "GET /step2: missing csrfmiddlewaretoken or sessionid field"

# The session is in Redis, through sessiond: not in Envoy.
keys="$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern 'cookieless:*' | wc -l)"
[ "$keys" -ge 1 ] || die "Redis holds no cookieless:* key: the gRPC store was not used"
grpc_calls="$(stat_of 'cluster\.sessiond\.upstream_rq_total')"
[ "${grpc_calls:-0}" -ge 1 ] || die "Envoy made no call to the sessiond cluster"

# Restart the session service; the session must survive (Redis keeps it).
sessiond_id="$("${COMPOSE[@]}" ps -q sessiond)"
started_before="$("$DOCKER" inspect -f '{{.State.StartedAt}}' "$sessiond_id")"
timeout 120 "${COMPOSE[@]}" restart --timeout 10 sessiond >"$T/restart.log" 2>&1 ||
  die "docker-compose restart sessiond failed:$(printf '\n'; cat "$T/restart.log")"
started_after="$("$DOCKER" inspect -f '{{.State.StartedAt}}' "$sessiond_id")"
[ "$started_after" != "$started_before" ] || die "sessiond was not restarted (StartedAt unchanged)"
for _ in $(seq 1 60); do
  [ -n "$(ss -Hltn "sport = :$SESSIOND_PORT")" ] &&
    sessiond_healthy && break
  sleep 0.5
done
sessiond_healthy ||
  die "Envoy does not see sessiond healthy again within 30 s of its restart: $(curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/clusters" | grep '^sessiond::.*::health_flags::' || true); \
sessiond says:$(printf '\n'; "$DOCKER" logs --tail 20 "$sessiond_id" 2>&1)"
say "sessiond restarted ($started_before -> $started_after); Envoy health-checks it healthy"
served_1="$(sessiond_served "$SESSIOND_PORT")" served_2="$(sessiond_served "$SESSIOND_2_PORT")"
[ "${served_1:-0}" -ge 1 ] && [ "${served_2:-0}" -ge 1 ] ||
  die "both replicas should have served calls so far: sessiond $served_1, sessiond-2 $served_2"

# Lose the other replica for the rest of the flow: once Envoy's health check has taken it out
# (its worker follows a moment later), the first replica serves every call.
# (`stop --timeout 0`: SIGTERM, then SIGKILL at once; unlike `kill`, surely no restart policy.)
timeout 60 "${COMPOSE[@]}" stop --timeout 0 sessiond-2 >"$T/kill.log" 2>&1 ||
  die "docker-compose stop sessiond-2 failed:$(printf '\n'; cat "$T/kill.log")"
for _ in $(seq 1 40); do
  case "$(sessiond_flags "$SESSIOND_2_PORT")" in *failed_active_hc*) break ;; esac
  sleep 0.25
done
case "$(sessiond_flags "$SESSIOND_2_PORT")" in *failed_active_hc*) ;;
  *) die "Envoy still sees the killed sessiond-2 as $(sessiond_flags "$SESSIOND_2_PORT") after 10 s" ;; esac
sleep 1.5
say "sessiond-2 stopped; Envoy took it out of rotation"

code="$(req post2 /step2 -H "Origin: $BASE" --data-urlencode "email=ada@example.org" \
  --data-urlencode "csrfmiddlewaretoken=$csrf" --data-urlencode "sessionid=$form_token")"
expect post2 303 "$code"
no_cookies post2
location="$(header post2 location)"
case "$location" in /confirm\?sessionid=*) ;; *) die "POST /step2: Location is '$location', expected /confirm?sessionid=..." ;; esac

code="$(req confirm "$location")"; expect confirm 200 "$code"
no_cookies confirm
grep -qF '<p id="name">Ada</p>' "$T/confirm.body" ||
  die "the confirmation page lost the name after the sessiond restart:$(printf '\n'; cat "$T/confirm.body")"
grep -qF '<p id="email">ada@example.org</p>' "$T/confirm.body" ||
  die "the confirmation page lacks the email:$(printf '\n'; cat "$T/confirm.body")"
errors="$(stat_of 'cookieless_store_errors')"
[ "${errors:-0}" -eq 0 ] || die "the filter counted $errors session store errors"
[ "$(sessiond_served "$SESSIOND_PORT")" -gt "$served_1" ] || die "the remaining replica served none of the last steps"

# The same client straight at the app (no filter): with no cookie jar it cannot get past step 1.
direct="http://127.0.0.1:$DEMO_PORT"
curl -sS --max-time 10 -A "$UA" -o "$T/direct.body" "$direct/step1"
csrf="$(field direct csrfmiddlewaretoken)"
code="$(curl -sS --max-time 10 -A "$UA" -o /dev/null -w '%{http_code}' --data-urlencode "name=Ada" \
  --data-urlencode "csrfmiddlewaretoken=$csrf" "$direct/step1" || true)"
[ "$code" = 403 ] || die "straight at the app without cookies, POST /step1 gave $code, expected 403"
ok

# --- 5. teardown -----------------------------------------------------------------------------------
step "docker-compose down"
timeout 120 "${COMPOSE[@]}" down --remove-orphans --timeout 5 >"$T/down.log" 2>&1 ||
  die "docker-compose down failed:$(printf '\n'; cat "$T/down.log")"
stack_up=false
[ -z "$("$DOCKER" ps -aq)" ] || die "containers left after down: $("$DOCKER" ps -a --format '{{.Names}}' | tr '\n' ' ')"
ok
