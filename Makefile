# Frostbyte — the two commands: `make demo` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
PACKAGES := control_plane data_plane frostbyte_common frostbyte_cli infra offline_bundle

.DEFAULT_GOAL := help
.PHONY: help install lock demo down test test-fast test-slow test-corpus-parse lint samples golden policy-corpora bench \
	bench-intake bench-parse bench-parse-large bench-policy bench-audit bench-compare bench-search \
	test-hosts test-faults images test-images bundle test-bundle

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: ## Create .venv and install Debian + Python dependencies, hash-checked (skips what is satisfied)
	@bash scripts/install.sh

lock: install ## Regenerate requirements/*.txt (hashes) from pyproject.toml, keeping current pins
	@bash scripts/lock.sh

demo: install ## Start the local stack, create tenant `demo`, ingest samples/, report and search
	@$(PY) scripts/demo.py

down: ## Stop everything `make demo` / `frostbyte local up` started
	@$(VENV)/bin/frostbyte local down

test: install ## Run the whole suite CI runs: unit, contract, integration, e2e, real corpus, test hosts
	@$(PYTEST) -q --durations=20; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: install ## The quick loop: everything but the slow suites (real corpus, large files, hosts)
	@$(PYTEST) -q -m "not slow and not (fault or soak or images or bundle or corpus_parse or hosts_long)"

test-slow: install ## Only the slow suites (real corpus, large files, sandbox, hosts); `make test` runs them too
	@$(PYTEST) -q -m "slow and not (fault or soak or images or bundle or corpus_parse or hosts_long)"

test-corpus-parse: install ## The parse stage alone over every file of ../shared/corpus (slow)
	@$(PYTEST) -q -m corpus_parse tests/integration/data_plane/test_real_corpus.py

test-faults: install ## Fault rounds (slow, not in `make test`): kill -9 (R2), S3 and PostgreSQL down (R3), 50 uploaders (R4); prints figures
	@$(PYTEST) -q -s -m fault tests/faults; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-hosts: install images ## Every namespace-host suite: the image set (podman engine), the process engine, the hetzner provider's host run (root, slow)
	@$(PYTEST) -q -m "slow or hosts_long" tests/hosts; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

images: install ## Build the data-plane image set with debootstrap + buildah (no registry); prints sizes
	@$(PY) images/build.py

test-images: images ## Start the built image set with podman-compose and use it over HTTPS (slow)
	@$(PYTEST) -q -s -m images tests/images; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

bundle: images ## Write dist/frostbyte-bundle-<version>.tar: images, compose, models, signatures, SBOMs, signed manifest
	@$(PY) -m offline_bundle build

test-bundle: bundle ## Verify, tamper, load offline in a namespace, update and roll back the bundle (slow)
	@$(PYTEST) -q -s -m bundle tests/bundle; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: install ## ruff + mypy --strict + the import contracts (.importlinter) + ansible-lint
	@$(VENV)/bin/ruff check $(PACKAGES) tests scripts bench images
	@$(VENV)/bin/lint-imports --no-cache
	@$(VENV)/bin/mypy --strict $(PACKAGES) images/build.py
	@cd playbooks && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ansible-lint -q --offline

samples: install ## Regenerate samples/ (deterministic)
	@$(PY) scripts/make_samples.py

bench: install ## Ingest benchmark through a running stack (prints figures)
	@$(PY) bench/ingest.py

bench-intake: install ## Intake gateway throughput and memory (prints figures)
	@$(PY) bench/intake.py

bench-parse: install ## Parser workers vs bare parsers, per format (prints figures)
	@$(PY) bench/parse.py

bench-parse-large: install ## One large PDF: ours vs docling and unstructured; memory by pages
	@$(PY) bench/parse.py --large

bench-policy: install ## PII and injection detection: quality on the corpora and ms/chunk
	@$(PY) bench/policy.py

bench-audit: install ## Audit stream: appends/s with concurrent writers, verified events/s
	@$(PY) bench/audit.py

bench-search: install ## Vector search p50/p95/p99 and recall@10 at 10k/100k/1M points: Qdrant Edge vs local mode
	@$(PY) bench/search.py

bench-compare: install ## Ours vs unstructured-ingest on one folder (installs the peer's venv once)
	@$(PY) bench/compare_unstructured_ingest.py

golden: install ## Regenerate the golden parse/chunk files (check the diff before committing)
	@FROSTBYTE_GEN_GOLDEN=1 $(PYTEST) -q tests/integration/data_plane/test_golden.py

policy-corpora: install ## Regenerate the labelled PII / injection corpora under tests/data/policy
	@$(PY) tests/data/policy/generate.py
