# tidepool — the targets CI and the README use.
SHELL := /bin/bash
CARGO ?= cargo
DEBIAN_PACKAGES := prometheus prometheus-alertmanager
# Binaries the packages above provide, checked before installing.
DEBIAN_BINARIES := prometheus promtool prometheus-alertmanager

.PHONY: run test lint unit loom bench deps demo clean nab

## run: the main job on built-in defaults: a 24 h daily-cycle soak in virtual time
run:
	$(CARGO) run --release -- soak --out tidepool-out

## demo: a live pool under real threads, serving /metrics for 15 s
demo:
	$(CARGO) run --release -- demo --seconds 15

## test: lint, then every test, installing and starting what they need
test: deps lint unit loom

## lint: formatting and clippy with warnings as errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## unit: unit, integration (real Prometheus), doc tests
unit:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

## loom: model-check the waiter/return hand-off
loom:
	RUSTFLAGS="--cfg tidepool_loom" CARGO_TARGET_DIR=target/loom \
		$(CARGO) test --lib --release loom_tests

## bench: pool vs floor and peers; simulator speed and memory vs a naive peer; profiled locks vs parking_lot
bench:
	$(CARGO) bench --bench pool --bench sim --bench locks --bench wall

## nab: score `tidepool detect` on the NAB corpus in $(NAB) at threshold 0.5 (not part of test)
NAB ?= ../shared/data/nab
nab:
	NAB=$(NAB) scripts/nab.sh

## deps: install the Debian packages the tests need, only when missing
deps:
	@missing=""; for b in $(DEBIAN_BINARIES); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing $(DEBIAN_PACKAGES) (missing:$$missing)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES); \
	fi
	@for b in $(DEBIAN_BINARIES); do command -v $$b >/dev/null || { echo "deps: $$b still missing" >&2; exit 1; }; done

clean:
	$(CARGO) clean
