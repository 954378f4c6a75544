# cargate: make run | make test | make bench
GO      ?= go
BIN     := bin/cargate
DATA    ?= ./cargate-data
LISTEN  ?= 127.0.0.1:8080
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build run test test-unit vet fuzz bench bench-quick services services-stop clean conformance

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/cargate

# Import the sample site and serve it on embedded defaults.
run: build
	@root=$$($(BIN) import --data-dir $(DATA) --quiet examples/site) && \
	echo "sample site imported: open http://$(LISTEN)/ipfs/$$root/" && \
	exec $(BIN) serve --data-dir $(DATA) --listen $(LISTEN)

# vet also type-checks the macOS and Windows builds (platform code sits
# behind build tags with portable fallbacks).
vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every test, with the real local servers of scripts/services.sh (started
# here, stopped after if this run started them). The binary-level tests of
# every package share one build of cargate (CARGATE_TEST_BIN).
test: vet
	@scripts/services.sh start
	$(GO) build -o bin/cargate-test ./cmd/cargate
	@set -e; eval "$$(scripts/services.sh env)"; \
	trap 'scripts/services.sh stop' EXIT; \
	CARGATE_TEST_BIN=$(CURDIR)/bin/cargate-test $(GO) test -race -timeout 30m ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5s FUZZ_TARGETS="$(FUZZ_QUICK)"

# Fuzz targets: package:function. Every target's committed corpus also runs
# as plain tests in go test. make test fuzzes the intake's briefly;
# FuzzPositions waits out retry timeouts on some inputs, which the fuzzer
# takes for hangs on a loaded machine, so it runs here only (make fuzz).
FUZZ_QUICK   := indexer:FuzzIntakeMessage indexer:FuzzIndexBlob
FUZZ_TARGETS ?= $(FUZZ_QUICK) resolver:FuzzPositions
FUZZTIME     ?= 30s
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/; \
	done

# Unit tests only: no services (service-backed tests skip outside CI).
test-unit:
	$(GO) test ./...

bench: build
	$(GO) run ./bench/runner -profile full -cargate $(BIN) -out bench/results

bench-quick: build
	$(GO) run ./bench/runner -profile quick -cargate $(BIN) -out bench/results

# The public gateway conformance suite against `cargate serve` loaded with
# its fixtures; fails when a case of scripts/conformance/passing.txt fails.
conformance:
	scripts/conformance.sh

services:
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

clean:
	rm -rf bin $(DATA)
