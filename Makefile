# mailwarden: `make run` and `make test` are the whole quick start.
# Everything runs on the Node 24 that package.json pins (node_modules/.bin/node),
# whatever `node` the shell has.

SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
DATA ?= ./data

.PHONY: install run test typecheck unit clean

install: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@node -e 'const [M]=process.versions.node.split("."); if (+M < 24) { console.error("pinned node is " + process.version + ", need 24"); process.exit(1) }'
	@touch $@

run: install
	@./bin/mailwarden init --data $(DATA)
	@echo
	@echo "Settings live in $(DATA) (revision history in $(DATA)/mailwarden.db)."
	@echo "  see them:       ./bin/mailwarden config export --data $(DATA)"
	@echo "  change them:    ./bin/mailwarden config import FILE --data $(DATA)   (check first: config check FILE)"
	@echo "  ask the rules:  ./bin/mailwarden policy explain --data $(DATA) --client 127.0.0.1 --to user@example.org"
	@echo "The SMTP listeners are not built yet (issue #3); 'make run' starts them once they are."

typecheck: install
	tsc --noEmit -p .

unit: install
	node scripts/run-tests.ts

test: install
	tsc --noEmit -p .
	node scripts/run-tests.ts

clean:
	rm -rf node_modules
