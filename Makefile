# ferry: see README.md. `make run` serves conf/ferry.yml; `make test` runs everything CI runs.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 10s
CONF      ?= conf/ferry.yml

# make install: DESTDIR stages the files (packaging); the paths in the unit
# file are PREFIX's and SYSCONFDIR's, without DESTDIR.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/ferry

.PHONY: all build build-ferry run test unit unit-handoff gnet-patch fuzz bench bench-go bench-suite fmt vet clean install uninstall

all: build

build: build-ferry
	@if [ -d bench/cmd/ferry-bench ]; then $(GO) build -trimpath -o $(BIN)/ferry-bench ./bench/cmd/ferry-bench; fi

build-ferry:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ferry ./cmd/ferry

# Installs the binary, the systemd unit (its paths rewritten to BINDIR,
# SYSCONFDIR and DOCDIR), the README, and conf/ferry.yml as
# SYSCONFDIR/ferry/ferry.yml; a configuration already there is kept, and the
# example goes beside it as ferry.yml.example.
install: build-ferry
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(SYSCONFDIR)/ferry' '$(DESTDIR)$(UNITDIR)' '$(DESTDIR)$(DOCDIR)'
	install -m 0755 $(BIN)/ferry '$(DESTDIR)$(BINDIR)/ferry'
	if [ -e '$(DESTDIR)$(SYSCONFDIR)/ferry/ferry.yml' ]; then \
		install -m 0644 conf/ferry.yml '$(DESTDIR)$(SYSCONFDIR)/ferry/ferry.yml.example'; \
	else \
		install -m 0644 conf/ferry.yml '$(DESTDIR)$(SYSCONFDIR)/ferry/ferry.yml'; \
	fi
	sed -e '/^#/!s|/usr/local/bin/ferry|$(BINDIR)/ferry|g' -e '/^#/!s|/etc/ferry/|$(SYSCONFDIR)/ferry/|g' \
		-e '/^#/!s|/usr/local/share/doc/ferry|$(DOCDIR)|g' contrib/ferry.service > '$(DESTDIR)$(UNITDIR)/ferry.service'
	chmod 0644 '$(DESTDIR)$(UNITDIR)/ferry.service'
	install -m 0644 README.md '$(DESTDIR)$(DOCDIR)/README.md'

# Removes what install put in place, except the configuration.
uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/ferry' '$(DESTDIR)$(UNITDIR)/ferry.service' '$(DESTDIR)$(DOCDIR)/README.md'
	-rmdir '$(DESTDIR)$(DOCDIR)'

# Builds ferry, starts local redis-server instances for the example config if
# nothing listens on their ports (installing redis-server when missing), and
# serves conf/ferry.yml in the foreground.
run: build
	./scripts/run-local.sh $(CONF)

# Everything CI runs: vet, unit and end-to-end tests against real servers
# (the engine's twice: with connections per event loop, then with
# server_connections_scope process, where loops hand requests to the loop
# that owns the connection), the tests of the gnet patch, and a short run
# of every fuzz target.
test: vet unit unit-handoff gnet-patch fuzz

unit:
	$(GO) test -count=1 -timeout 15m ./...

unit-handoff:
	FERRY_TEST_CONN_SCOPE=process $(GO) test -count=1 -timeout 15m ./engine/

# The tests of ferry's patch to the gnet copy in third_party/gnet (its own
# module, so not in ./...), with and without gnet's poll_opt tag.
GNET_PATCH_TESTS := TestIterationHandler|TestPollerIterationHook|TestPollerWake|TestEventList
gnet-patch:
	cd third_party/gnet && $(GO) test -count=1 -run '$(GNET_PATCH_TESTS)' ./ ./pkg/netpoll/
	cd third_party/gnet && $(GO) test -count=1 -tags poll_opt -run '$(GNET_PATCH_TESTS)' ./ ./pkg/netpoll/

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
