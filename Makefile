# CampsHub360 Edge. The two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
GO    ?= go
MODULES := ./gateway/... ./backend/... ./shared/... ./benchmarks/...

.PHONY: run stop test build vet fmt lint clean help deploy-smoke bench bench-quick bench-compare bench-clean bench-backend bench-backend-clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-19s %s\n", $$1, $$2}'

run: ## start the whole stack in the foreground (PostgreSQL, Redis, 2 backends, gateway)
	@scripts/run.sh

stop: ## stop a stack started by `make run`, from another shell
	@scripts/stop.sh

test: ## run every test (throwaway PostgreSQL and Redis, race detector, end-to-end)
	@scripts/test.sh

deploy-smoke: ## build the images and bring deploy/compose up (skips without a container engine)
	@scripts/deploy-smoke.sh

bench: ## campus scenarios vs nginx, the backend directly and a ceiling; rewrites benchmarks/RESULTS.md (~20 min)
	@benchmarks/scripts/bench.sh

bench-quick: ## the same, shorter runs (~8 min); BENCH_RUNS, BENCH_DURATION, BENCH_ONLY tune both
	@BENCH_QUICK=1 benchmarks/scripts/bench.sh

bench-compare: ## focused edge comparisons vs nginx (proxy, TLS, cache, rate limit, failover); rewrites their RESULTS.md sections
	@benchmarks/scripts/compare.sh

bench-clean: ## remove the benchmark database and state of bench (.run/bench)
	rm -rf .run/bench

bench-backend: ## store benchmarks at the scale preset (loads 10M records once into .run/bench-pg; minutes)
	@scripts/bench-backend.sh

bench-backend-clean: ## remove the benchmark database of bench-backend
	rm -rf .run/bench-pg .run/bench-pg.password

build: ## build the gateway and backend binaries into bin/
	$(GO) build -o bin/ ./gateway/cmd/gateway ./backend/cmd/backend ./benchmarks/cmd/loadgen

vet: ## go vet every module
	$(GO) vet $(MODULES)

fmt: ## gofmt every module
	gofmt -w gateway backend shared benchmarks

lint: vet ## vet plus a gofmt check
	@test -z "$$(gofmt -l gateway backend shared benchmarks)" || { gofmt -l gateway backend shared benchmarks; exit 1; }

clean: ## remove build output (not .run/, which holds the dev database)
	rm -rf bin
