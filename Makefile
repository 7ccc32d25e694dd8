# Cairn — see README.md. `make run` starts a local cluster; `make test` runs every test.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := librocksdb-dev libfuse3-dev libzstd-dev libssl-dev fuse3 pkg-config iptables iproute2 xfsprogs bc faketime libfaketime
DEBUG_BIN := .build/debug/cairn
RELEASE_BIN := .build/release/cairn

.PHONY: all deps build release run stop test test-unit test-integration soak chaos bench format lint clean

all: build

## deps: install the system packages Cairn needs (Debian/Ubuntu, as root), skipping those present.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install:$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## run: build release and start a local cluster (three metadata servers in a Raft group, three chunk servers, volume 'demo').
run: release
	$(RELEASE_BIN) dev up
	@echo "cairn is at $(CURDIR)/$(RELEASE_BIN); add it to PATH, e.g.: export PATH=$(CURDIR)/.build/release:\$$PATH"

stop:
	-$(RELEASE_BIN) dev down || $(DEBUG_BIN) dev down

## test: build (debug) and run every test: unit, simulation, integration on real processes,
## real FUSE mounts; then a smoke test of the release build.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build 2>&1 | tee .build/test.log; exit $${PIPESTATUS[0]}
	$(SWIFT) build -c release
	./scripts/release-smoke.sh

## soak: the Raft simulation over many more seeds.
soak: deps
	$(SWIFT) build --build-tests
	CAIRN_SIM_SEEDS=200000 $(SWIFT) test --skip-build --filter CairnRaftTests

## chaos: every scenario in scenarios/ at full length on both topologies (reports in chaos-reports/);
## prints a scenario x topology table. Expected: every scenario FAILS on spof and PASSES on ha.
chaos: deps
	$(SWIFT) build
	./scripts/chaos-all.sh $(DEBUG_BIN)

## bench: release benchmarks; results are printed and appended to benchmarks/results/.
bench: release
	./benchmarks/run.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests

lint:
	$(SWIFT) format lint --recursive Sources Tests

clean:
	rm -rf .build
