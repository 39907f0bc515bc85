# gitboot: see README.md. `make test` is what CI runs (through .ci/run).
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 20s
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(HOME)/go/bin/staticcheck)

.PHONY: all build test lint fuzz bench bench-go bench-boot bench-debian bench-twostage bench-power clean demo

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/gitboot ./cmd/gitboot
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/gitboot-agent ./cmd/gitboot-agent

# Runs every test, including the root/network-namespace ones (they skip with a
# reason when not root, and never skip under CI=true).
test:
	$(GO) test -count=1 -timeout 40m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) run ./tools/golimits -known .ci/golimits-known .

# Short runs of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# The boot storm (gitboot and the reference dnsmasq + nginx, 10,000 nodes)
# and the control plane at 1k/10k/50k nodes, end to end; root. QUICK=1:
# 1,000 nodes. Results: bench/results/*.json and lines in bench/RESULTS.md.
bench: build
	QUICK=$(QUICK) bench/run.sh

# Go micro-benchmarks of every package.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# QEMU boot time (TCG), gitboot serve against dnsmasq + nginx: 5 boots each
# of a BIOS and a UEFI node per server (QUICK=1: 1), median power-on to the
# image's init and its phases; root. Writes bench/results/boot.json and a
# line in bench/RESULTS.md.
bench-boot: build
	QUICK=$(QUICK) ONLY=boot bench/run.sh

# Two-stage against one-stage boot of the Debian image grown to ~730 MB
# (median of 5 boots each, QUICK=1: 1); root. Writes
# bench/results/twostage-*.json and a line in bench/RESULTS.md.
bench-twostage: build
	QUICK=$(QUICK) ONLY=twostage bench/run.sh

# `gitboot power status --all` against 200 ipmi_sim BMCs on loopback
# (--parallel 32), beside ipmitool with xargs -P 32; needs openipmi, ipmitool.
bench-power:
	bench/power/run.sh
# The real Debian 12 image (scripts/debian-image.sh) through gitboot: the
# time and peak memory of packing it, and 5 BIOS boots (QUICK=1: 1) from
# power-on to systemd's multi-user.target, with phases; root. Writes
# bench/results/debian.json and a line in bench/RESULTS.md.
bench-debian: build
	QUICK=$(QUICK) ONLY=debian bench/run.sh

# Boots the two QEMU nodes of examples/lab through gitboot serve in throw-away
# network namespaces, prints gitboot status, cleans up. Root, Debian 12.
demo:
	scripts/demo.sh

clean:
	rm -rf $(BIN)
