# avsync — `make demo` runs the pipeline on the bundled sample; `make test`
# runs every test. Both build what they need first.
GO      ?= go
BIN     := bin
TOOLS   := av-read av-mask av-write
# urfave/cli's man and markdown writers are never used, and nothing needs
# cgo: leaving them out (a static binary, no dynamic loader) saves every run
# of every tool their start-up cost.
TAGS    := urfave_cli_no_docs
# CI keeps benchmarks and long runs short; locally they run at full size.
BENCH_FLAGS ?=
# `make test` fuzzes each target briefly, a count of inputs each (about 8 s
# here): a time budget races Go 1.26's fuzz coordinator, which can report
# "context deadline exceeded" as a failure at the deadline (golang/go#75804).
# `make fuzz FUZZTIME=10m` (or =5000000x) digs deeper.
FUZZTIME ?=
# `make test` kills the pipeline 20 times per store; `make crash` many more.
CRASH_ROUNDS ?= 300
# `make test` runs 24 random model sequences per store; `make model` many more
# (AVSYNC_MODEL_SEED=N replays the one a failure names).
ROUNDS ?= 500
FUZZ_TARGETS := ./pkg/mask:FuzzMask:100000x ./pkg/mask:FuzzMaskRecord:100000x ./pkg/record:FuzzDecode:300000x \
	./pkg/record:FuzzDecodeFast:200000x ./pkg/record:FuzzEncodeFast:150000x

# Platforms CI compiles and vets beside the host's (agentsview runs on all).
CROSS_TARGETS := darwin/amd64 darwin/arm64 windows/amd64 linux/arm64

.PHONY: all build demo test cross fuzz crash model bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -tags $(TAGS) -o $(BIN)/ ./cmd/...

demo: build
	scripts/demo

# The PostgreSQL and ClickHouse suites get throwaway servers when those are
# installed (or use AVSYNC_PG_URL/AVSYNC_CH_URL); otherwise one loud line.
test:
	$(GO) vet ./...
	$(MAKE) --no-print-directory cross
	scripts/with-test-servers $(GO) test -count=1 -timeout 40m ./...
	$(MAKE) --no-print-directory fuzz

# Every tool builds, and every package (tests included) vets, on each target.
cross:
	@for t in $(CROSS_TARGETS); do \
		echo "cross $$t"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./... || exit 1; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build ./cmd/... || exit 1; \
	done

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$(FUZZTIME); budget=$${budget:-$${rest#*:}}; \
		echo "fuzz $$name ($$budget)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$$budget $$pkg > .fuzz.log 2>&1 || { cat .fuzz.log; rm -f .fuzz.log; exit 1; }; \
		tail -n 1 .fuzz.log; rm -f .fuzz.log; \
	done

crash:
	AVSYNC_CRASH_ROUNDS=$(CRASH_ROUNDS) $(GO) test -count=1 -timeout 60m -run '^TestCrashConsistency$$' ./pkg/e2e

model:
	AVSYNC_MODEL_ROUNDS=$(ROUNDS) $(GO) test -count=1 -timeout 0 -run '^TestModel$$' ./pkg/e2e

bench: build
	@command -v sqlite3 >/dev/null || { echo "bench: the baseline needs sqlite3 (apt-get install sqlite3)"; exit 1; }
	$(GO) run ./scripts/bench $(BENCH_FLAGS)

clean:
	rm -rf $(BIN) .bench
