# ferry: see README.md. `make run` serves conf/ferry.yml; `make test` runs everything CI runs.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 10s
CONF      ?= conf/ferry.yml

.PHONY: all build run test unit fuzz bench bench-go bench-suite fmt vet clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ferry ./cmd/ferry
	@if [ -d bench/cmd/ferry-bench ]; then $(GO) build -trimpath -o $(BIN)/ferry-bench ./bench/cmd/ferry-bench; fi

# Builds ferry, starts local redis-server instances for the example config if
# nothing listens on their ports (installing redis-server when missing), and
# serves conf/ferry.yml in the foreground.
run: build
	./scripts/run-local.sh $(CONF)

# Everything CI runs: vet, unit and end-to-end tests against real servers,
# and a short run of every fuzz target.
test: vet unit fuzz

unit:
	$(GO) test -count=1 -timeout 15m ./...

fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME)

# The whole benchmark: Go micro-benchmarks (codecs, hashing, the engine loop:
# 0 allocs/op) and the side-by-side suite (direct, nutcracker, ferry), whose
# table goes to bench/results/latest.md. BENCHFLAGS=--quick for a 2-minute run.
bench: bench-go bench-suite

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 200ms ./codec/... ./engine/... ./backend/... | tee bench/results/go-bench.txt

bench-suite:
	./scripts/bench.sh $(BENCHFLAGS)

fmt:
	gofmt -l -w .

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting (make fmt)"; exit 1)
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
