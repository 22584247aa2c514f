# mailwarden: `make run` and `make test` are the whole quick start.
# Everything runs on the Node 24 that package.json pins (node_modules/.bin/node),
# whatever `node` the shell has.

SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
DATA ?= ./data

.PHONY: install run sink test typecheck unit clean system-deps bench bench-tracking web build

install: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@node -e 'const [M]=process.versions.node.split("."); if (+M < 24) { console.error("pinned node is " + process.version + ", need 24"); process.exit(1) }'
	@touch $@

run: install web build
	./bin/mailwarden start --data $(DATA) --banner

# A next hop to try the relay with (see README): prints what it receives.
sink: install
	node scripts/dev-sink.ts

# Debian packages the tests use (real clients and, later, real scanners).
# Installed when running as root on Debian; otherwise the tests that need
# them say they are skipped and why.
DEBIAN_PACKAGES := swaks dnsmasq-base clamav-daemon spamassassin spamd rspamd chromium unzip postgresql haproxy slapd ldap-utils python3-dkim python3-authres opendkim-tools
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "NOTE: not root, so these Debian packages are not installed:$$missing; tests that need them are skipped"; \
	fi

typecheck: install
	tsc --noEmit -p .

# The web admin UI (web/: Preact, built by Vite) into web/dist, which the admin
# listener serves at https://ADMIN_ADDR:PORT/. Offline after `make install`.
# Built only when a source is newer than the last build (a build takes about
# 8 s, and `make run` should start at once when nothing changed). The
# directories are prerequisites too, so that a deleted or renamed file counts.
WEB_SOURCES := $(shell find web/src web/public 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json package-lock.json
web: web/dist/index.html

web/dist/index.html: $(WEB_SOURCES) | node_modules/.installed
	tsc --noEmit -p web
	vite build web
	@touch $@

# src/ compiled to plain JS in dist/ (bin/mailwarden runs it when no file in
# src/ is newer than the build; otherwise it runs src/ through Node's type
# stripping, which costs about 25 MB of memory per process and slower starts).
SRC_SOURCES := $(shell find src 2>/dev/null) tsconfig.json tsconfig.build.json package-lock.json
build: dist/.built

dist/.built: $(SRC_SOURCES) | node_modules/.installed
	rm -rf dist
	tsc -p tsconfig.build.json
	@touch $@

unit: install
	node scripts/run-tests.ts

test: install system-deps web build
	tsc --noEmit -p .
	node scripts/run-tests.ts

# Benchmark against Postfix and Haraka on this machine (issue #5); not part of
# `make test`. Installs postfix (Debian) and Haraka (npm, into bench/.scratch/)
# when missing; about 30 minutes with the cluster cells (issue #15); prints the table and writes bench/RESULTS.md.
# BENCH_QUICK=1 make bench runs a tiny matrix to check the harness (a few minutes,
# written to bench/.scratch/RESULTS-quick.md).
bench: install build
	@node bench/run.ts

# The tracking search on a million synthetic entries, SQLite and PostgreSQL (issue #20; a few minutes):
# prints the tables for bench/RESULTS.md and docs/tracking.md.
bench-tracking: install
	@node bench/tracking-search.ts

clean:
	rm -rf node_modules dist
