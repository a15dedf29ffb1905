# ferry: see README.md. `make run` serves conf/ferry.yml; `make test` runs everything CI runs.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 10s
CONF      ?= conf/ferry.yml

.PHONY: all build run test unit fuzz bench fmt vet clean

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

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./codec/... ./engine/... ./backend/...

fmt:
	gofmt -l -w .

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting (make fmt)"; exit 1)
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
