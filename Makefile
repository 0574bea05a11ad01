# avsync — `make demo` runs the pipeline on the bundled sample; `make test`
# runs every test. Both build what they need first.
GO      ?= go
BIN     := bin
TOOLS   := av-read av-mask av-write
# CI keeps benchmarks and long runs short; locally they run at full size.
BENCH_FLAGS ?=

.PHONY: all build demo test bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

demo: build
	scripts/demo

test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

bench: build
	@command -v sqlite3 >/dev/null || { echo "bench: the baseline needs sqlite3 (apt-get install sqlite3)"; exit 1; }
	$(GO) run ./scripts/bench $(BENCH_FLAGS)

clean:
	rm -rf $(BIN) .bench
