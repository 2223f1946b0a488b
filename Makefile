# tidepool — the targets CI and the README use.
SHELL := /bin/bash
CARGO ?= cargo
# What `make deps` installs from the machine's own Debian release (apt-get, only
# when a binary below is missing; nothing is upgraded but what apt needs for them):
DEBIAN_PACKAGES := prometheus prometheus-alertmanager prometheus-pushgateway chromium python3
# Binaries the packages above provide, checked before installing.
DEBIAN_BINARIES := prometheus promtool prometheus-alertmanager prometheus-pushgateway chromium python3
# Private, not installed: VictoriaMetrics (the OTLP receiver) unpacked under
# $(DEPS_DIR) by scripts/fetch-victoriametrics.sh. tests/common finds
# $(DEPS_DIR)/bin before PATH. `rm -rf .deps` undoes it.
DEPS_DIR := .deps

.PHONY: run test lint unit loom miri bench deps demo clean nab nab-cv rules-test up down test-otlp otlp fuzz big-replay licenses soak-ci docs

## run: the main job on built-in defaults: a 24 h daily-cycle soak in virtual time
run:
	$(CARGO) run --release -- soak --out tidepool-out --force

## demo: a live pool under real threads, serving /metrics for 15 s
demo:
	$(CARGO) run --release -- demo --seconds 15

## test: lint, then every test, installing and starting what they need
test: deps lint rules-test unit soak-ci otlp loom

## lint: formatting and clippy with warnings as errors, on the whole crate, on the agent
## alone (no default features: no simulator, no CLI) and on the agent with the simulator
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --lib --no-default-features -- -D warnings
	$(CARGO) clippy --lib --no-default-features --features sim -- -D warnings
	$(CARGO) clippy --all-targets --features r2d2,bb8,deadpool -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --lib --no-default-features
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --lib --all-features

## rules-test: lint and unit-test the Prometheus rules in dashboards/prometheus
RULES_DIR := dashboards/prometheus
rules-test:
	promtool check rules $(RULES_DIR)/tidepool-rules.yml
	cd $(RULES_DIR) && promtool test rules tidepool-rules.test.yml

## up: Prometheus on 127.0.0.1:9090 (dashboards/prometheus/prometheus.yml) and,
## if installed, Alertmanager on 127.0.0.1:9093, in the background; data,
## logs and pid files in $(RUN_DIR). `make down` stops them.
RUN_DIR ?= .run
up:
	@mkdir -p $(RUN_DIR) && echo '*' > $(RUN_DIR)/.gitignore
	@if [ -f $(RUN_DIR)/prometheus.pid ] && kill -0 $$(cat $(RUN_DIR)/prometheus.pid) 2>/dev/null; then \
		echo "prometheus already running (pid $$(cat $(RUN_DIR)/prometheus.pid))"; \
	else \
		prometheus --config.file=$(RULES_DIR)/prometheus.yml --storage.tsdb.path=$(RUN_DIR)/prometheus-data \
			--web.listen-address=127.0.0.1:9090 >$(RUN_DIR)/prometheus.log 2>&1 & echo $$! > $(RUN_DIR)/prometheus.pid; \
		echo "prometheus on http://127.0.0.1:9090 (pid $$(cat $(RUN_DIR)/prometheus.pid), log $(RUN_DIR)/prometheus.log)"; \
	fi
	@if ! command -v prometheus-alertmanager >/dev/null; then echo "prometheus-alertmanager not installed: no Alertmanager"; \
	elif [ -f $(RUN_DIR)/alertmanager.pid ] && kill -0 $$(cat $(RUN_DIR)/alertmanager.pid) 2>/dev/null; then \
		echo "alertmanager already running (pid $$(cat $(RUN_DIR)/alertmanager.pid))"; \
	else \
		prometheus-alertmanager --config.file=$(RULES_DIR)/alertmanager.yml --storage.path=$(RUN_DIR)/alertmanager-data \
			--web.listen-address=127.0.0.1:9093 --cluster.listen-address= >$(RUN_DIR)/alertmanager.log 2>&1 & \
			echo $$! > $(RUN_DIR)/alertmanager.pid; \
		echo "alertmanager on http://127.0.0.1:9093 (pid $$(cat $(RUN_DIR)/alertmanager.pid), log $(RUN_DIR)/alertmanager.log)"; \
	fi
	@if ! command -v prometheus-pushgateway >/dev/null; then echo "prometheus-pushgateway not installed: no Pushgateway"; \
	elif [ -f $(RUN_DIR)/pushgateway.pid ] && kill -0 $$(cat $(RUN_DIR)/pushgateway.pid) 2>/dev/null; then \
		echo "pushgateway already running (pid $$(cat $(RUN_DIR)/pushgateway.pid))"; \
	else \
		prometheus-pushgateway --web.listen-address=127.0.0.1:9091 >$(RUN_DIR)/pushgateway.log 2>&1 & \
			echo $$! > $(RUN_DIR)/pushgateway.pid; \
		echo "pushgateway on http://127.0.0.1:9091 (pid $$(cat $(RUN_DIR)/pushgateway.pid), log $(RUN_DIR)/pushgateway.log)"; \
	fi

## down: stop what `make up` started (by pid file)
down:
	@for name in prometheus alertmanager pushgateway; do \
		pidfile=$(RUN_DIR)/$$name.pid; \
		if [ -f $$pidfile ] && kill -0 $$(cat $$pidfile) 2>/dev/null; then \
			kill $$(cat $$pidfile) && echo "stopped $$name (pid $$(cat $$pidfile))"; \
		fi; \
		rm -f $$pidfile; \
	done

## unit: unit, integration (real Prometheus), doc tests
unit:
	$(CARGO) test --all-targets -- --skip soak_ci
	$(CARGO) test --features r2d2,bb8,deadpool --test adapters
	$(CARGO) test --doc --features r2d2,bb8,deadpool

## soak-ci: a 24 h virtual daily cycle with every fault and every gate (workloads/soak-ci.toml), and the
## holder and factory faults on real threads: nothing lost, no panic escapes, every gate evaluated (tests/soak_ci.rs)
soak-ci:
	$(CARGO) test --test soak_ci -- --nocapture

## otlp: the OTLP export path (cargo feature `otlp`): clippy, and its test against a real
## VictoriaMetrics (.deps/bin/victoria-metrics, from `make deps`)
otlp:
	$(CARGO) clippy --all-targets --features otlp -- -D warnings
	$(CARGO) test --release --features otlp --test otlp

## loom: model-check the waiter/return hand-off
loom:
	RUSTFLAGS="--cfg tidepool_loom" CARGO_TARGET_DIR=target/loom \
		$(CARGO) test --lib --release loom_tests

# The pool's unsafe custody code under Miri (Stacked and Tree Borrows). Needs
# a nightly toolchain with the miri and rust-src components, so it is not part
# of `make test` (CI has neither); run it after touching src/pool/custody.rs.
miri:
	$(CARGO) +nightly miri test --lib --no-default-features pool::custody
	MIRIFLAGS="-Zmiri-tree-borrows" $(CARGO) +nightly miri test --lib --no-default-features pool::custody

## bench: pool vs floor and peers; simulator speed and memory vs a naive peer; profiled locks vs parking_lot
bench:
	$(CARGO) bench --bench pool --bench sim --bench locks --bench wall --bench harness

## nab: score `tidepool detect` at threshold 0.5 on the NAB corpus in $(NAB) (general preset) and on
## the domain corpus tests/corpus (runtime preset, then the issue's deadlines by tests/corpus/check.py: reported, not fatal, since
## the leak's hour is not met yet; tests/detector_corpus.rs holds what is met); not part of test
NAB ?= ../shared/data/nab
nab:
	PRESET=general scripts/nab.sh $(NAB) target/nab/results
	PRESET=runtime scripts/nab.sh tests/corpus target/nab/domain
	-python3 tests/corpus/check.py tests/corpus target/nab/domain

## nab-cv: leave-one-category-out cross-validation of detect's parameters on $(NAB) (scripts/nab_cv.py; not part of test)
nab-cv:
	cargo build --release --quiet --bin tidepool
	NAB=$(NAB) python3 scripts/nab_cv.py

## test-otlp: `deps` (VictoriaMetrics in .deps/ included), then the OTLP checks alone
test-otlp: deps otlp

## fuzz: a million random and mutated inputs per property to every parser (make test runs 2 000)
fuzz:
	PROPTEST_CASES=1000000 $(CARGO) test --release --test fuzz_parsers

## big-replay: generate a 1 GB trace and a 1 GB series under target/big-replay, replay
## each (release build, virtual time) and print its time and peak RSS, then delete them
BIG_DIR ?= target/big-replay
BIG_BYTES ?= 1e9
big-replay:
	$(CARGO) build --release
	@mkdir -p $(BIG_DIR)
	@trap 'rm -rf $(BIG_DIR)' EXIT; set -e; \
	python3 scripts/gen-replay-input.py trace $(BIG_DIR)/big.jsonl $(BIG_BYTES); \
	python3 scripts/gen-replay-input.py series $(BIG_DIR)/big.csv $(BIG_BYTES); \
	ls -l $(BIG_DIR)/big.jsonl $(BIG_DIR)/big.csv; \
	echo "trace: $$(wc -l < $(BIG_DIR)/big.jsonl) lines; series: $$(wc -l < $(BIG_DIR)/big.csv) lines"; \
	python3 scripts/peak-rss.py "validate trace" target/release/tidepool validate $(BIG_DIR)/big.jsonl; \
	python3 scripts/peak-rss.py "replay trace" target/release/tidepool replay $(BIG_DIR)/big.jsonl -q --out $(BIG_DIR)/out-trace; \
	python3 scripts/peak-rss.py "validate series" target/release/tidepool validate $(BIG_DIR)/big.csv; \
	python3 scripts/peak-rss.py "replay series" target/release/tidepool replay $(BIG_DIR)/big.csv -q --out $(BIG_DIR)/out-series

## docs: regenerate what the docs quote from the source: the Grafana JSON (generate.py), and in
## README.md and docs/ the default agent configuration and every `--help` (tests/docs.rs checks them)
docs:
	python3 dashboards/grafana/generate.py
	TIDEPOOL_DOCS=write $(CARGO) test --test docs

## licenses: the licenses of the whole resolved dependency tree (cargo metadata), grouped, with counts
licenses:
	python3 scripts/licenses.py

## deps: install the Debian packages the tests need, only when missing, from the
## machine's release; fetch VictoriaMetrics into .deps/ (docs/development.md#make-deps)
deps:
	@missing=""; for b in $(DEBIAN_BINARIES); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing $(DEBIAN_PACKAGES) (missing:$$missing)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES); \
	fi
	@for b in $(DEBIAN_BINARIES); do command -v $$b >/dev/null || { echo "deps: $$b still missing" >&2; exit 1; }; done
	@sh scripts/fetch-victoriametrics.sh $(DEPS_DIR)

clean:
	$(CARGO) clean
