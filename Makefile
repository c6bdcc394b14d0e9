# Quick start: `make demo` (set up, build, run) and `make test` (set up, build, all tests).
SWIFT ?= swift
EXAMPLE ?= examples/quixote.sdprompt

.PHONY: setup build demo test test-swift clean

setup:
	scripts/setup

build: setup
	$(SWIFT) build -c release

demo: build
	scripts/demo $(EXAMPLE)

# Tests run in release mode: numeric code is 10-100x slower in debug, and the
# same build serves the CLI process tests. Tests use `package` access, not @testable.
test: setup
	scripts/setup-e2e
	$(SWIFT) build -c release
	STYLUS_REQUIRE_MODELS=1 $(SWIFT) test -c release
	scripts/test-e2e

clean:
	rm -rf .build
