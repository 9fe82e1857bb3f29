# MemoryStreamer's commands. `make test` is what CI runs (.ci/run).

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
COVER_MIN   ?= 85
FUZZTIME    ?= 2m
BENCHTIME   ?= 1s
GOFILES      = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: all build test race lint cover bench gobench gate fuzz crash-test cluster-kill-test clean

all: lint test

## build: build msnode, msbench and the example into bin/
build:
	$(GO) build -o bin/ ./cmd/msnode ./cmd/msbench ./examples/pubsub

## test: lint, then every test with the race detector and goleak, the
## coverage floor of core/ (COVER_MIN percent of statements), and the
## memory limits per idle stream and subscription (measured without the
## race detector, which changes allocation sizes)
test: lint
	$(GO) test -race -count=1 -coverpkg=./core/... -coverprofile=coverage.out ./...
	@$(MAKE) --no-print-directory cover-check
	$(GO) test -count=1 -run '^TestIdleMemory$$' -v ./core/node

## lint: gofmt, go vet, staticcheck (pinned, run through the module proxy)
## and the doc-comment check (a test in internal/doclint)
lint:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) test -count=1 ./internal/doclint

## cover: coverage of core/ by all tests, per function and in total
cover:
	$(GO) test -count=1 -coverpkg=./core/... -coverprofile=coverage.out ./...
	@$(GO) tool cover -func=coverage.out | tail -n 25
	@$(MAKE) --no-print-directory cover-check

cover-check:
	@total=$$($(GO) tool cover -func=coverage.out | awk '/^total:/ {sub("%","",$$3); print $$3}'); \
	echo "core/ coverage: $$total% (floor $(COVER_MIN)%)"; \
	awk -v t="$$total" -v m="$(COVER_MIN)" 'BEGIN { exit (t+0 >= m+0) ? 0 : 1 }' || { echo "coverage below $(COVER_MIN)%"; exit 1; }

## bench: the main job: msbench runs the quick scenario against an
## in-process node (no setup) and writes msbench-results/TIME-quick/.
## SCENARIO=latency (or any built-in or file) and ARGS="--set k=v …" change it.
SCENARIO ?= quick
ARGS     ?=
bench:
	$(GO) run ./cmd/msbench run $(SCENARIO) $(ARGS)

## gate: the CI performance gate (ci/gates.yaml, docs/GATES.md): the
## baseline revision and this tree, interleaved; fails on a significant
## regression beyond the allowed amount or a broken absolute limit
gate:
	$(GO) run ./cmd/msbench gate

## gobench: the Go benchmarks of the hot paths, in benchstat format
gobench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./core/... ./harness/...

## fuzz: run the decoders' fuzz targets (protocol frames, log segments, strict YAML of configs, nodes' /metrics)
## for FUZZTIME each
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./core/wire
	$(GO) test -run='^$$' -fuzz='^FuzzReader$$' -fuzztime=$(FUZZTIME) ./core/wire
	$(GO) test -run='^$$' -fuzz='^FuzzPeerReader$$' -fuzztime=$(FUZZTIME) ./core/wire
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeFrame$$' -fuzztime=$(FUZZTIME) ./core/store
	$(GO) test -run='^$$' -fuzz='^FuzzRecover$$' -fuzztime=$(FUZZTIME) ./core/store
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./internal/yamlstrict
	$(GO) test -run='^$$' -fuzz='^FuzzAdd$$' -fuzztime=$(FUZZTIME) ./internal/promtext
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeEntry$$' -fuzztime=$(FUZZTIME) ./core/cluster
	$(GO) test -run='^$$' -fuzz='^FuzzReplayWAL$$' -fuzztime=$(FUZZTIME) ./core/cluster
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeSnapshot$$' -fuzztime=$(FUZZTIME) ./core/cluster

## cluster-kill-test: three msnode processes as a cluster, the stream's
## leader SIGKILLed CLUSTER_KILLS times under acknowledged publishing and
## restarted from its data directory; logs the unavailability after each
## kill (p50, p99, max) and checks nothing acknowledged is lost
## (make test runs one kill)
CLUSTER_KILLS ?= 50
cluster-kill-test:
	$(GO) test -count=1 -run '^TestClusterLeaderKilled$$' -v -timeout 30m ./cmd/msnode -cluster.kills=$(CLUSTER_KILLS)

## crash-test: the long crash test: msnode --data-dir killed with SIGKILL
## CRASH_KILLS times at random moments under acknowledged publishes; every
## acknowledged message must be there after each restart (make test runs
## it with 3 kills)
CRASH_KILLS ?= 25
crash-test:
	$(GO) test -count=1 -run '^TestCrashRecovery$$' -v ./cmd/msnode -crash.kills=$(CRASH_KILLS)

clean:
	rm -rf bin coverage.out msbench-results
