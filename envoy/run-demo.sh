#!/usr/bin/env bash
# Started by `make run` (the Wasm build, envoy/envoy.yaml) and `make run-native` (the native build,
# ENVOY_CONFIG=envoy/envoy.native.yaml): the demo app in the background, Envoy in the foreground;
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ENVOY:=.venv/bin/envoy}"
: "${ENVOY_CONFIG:=envoy/envoy.yaml}"
: "${COOKIELESS_KEY:?set COOKIELESS_KEY (make key prints one)}"
export COOKIELESS_KEY

target/release/demo --listen 127.0.0.1:8080 &
demo_pid=$!
trap 'kill "$demo_pid" 2>/dev/null || true' EXIT

echo
echo "  Demo app behind Envoy + cookieless: open http://127.0.0.1:10000/"
echo "  (the app alone, without the filter: http://127.0.0.1:8080/)"
echo "  Envoy admin and metrics: http://127.0.0.1:9901/stats?filter=cookieless"
echo "  Ctrl-C stops both."
echo
"$ENVOY" -c "$ENVOY_CONFIG" --concurrency 2 --log-level warn --disable-hot-restart
