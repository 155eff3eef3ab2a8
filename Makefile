# parcours: `make demo` and `make test` work on a fresh clone with only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
POLICIES := $(filter-out policies/episode.parcours,$(wildcard policies/*.parcours))

.PHONY: setup demo test test-fast typecheck bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml runtime/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("parcours needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ./runtime -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	@mkdir -p out
	$(BIN)/parcours check $(POLICIES)
	@for p in $(POLICIES); do \
	  name=$$(basename $$p .parcours); \
	  $(BIN)/parcours compile $$p -o out/$$name.py || exit 1; \
	done
	@for p in $(POLICIES); do \
	  name=$$(basename $$p .parcours); \
	  sample=policies/samples/episodes.jsonl; \
	  case $$name in morocco*) sample=policies/samples/episodes-ma.jsonl;; \
	    tunisia) sample=policies/samples/episodes-tn.jsonl;; esac; \
	  $(BIN)/parcours decide out/$$name.py --input $$sample \
	    --output out/$$name-decisions.jsonl --summary || exit 1; \
	done
	@echo
	@echo "== Morocco: status quo against the proposal, on one population =="
	$(BIN)/parcours compare policies/morocco.parcours policies/morocco_proposal.parcours \
	  --input policies/samples/episodes-ma.jsonl --report out/morocco-compare.html
	@echo "decisions are in out/*-decisions.jsonl, the comparison in out/morocco-compare.html; try:"
	@echo "  $(BIN)/parcours explain policies/france.parcours --episode \"\$$(head -1 policies/samples/episodes.jsonl)\""

test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/parcours test --min-coverage 100 policies
	$(BIN)/python -m mypy

# The inner loop: pytest without the tests marked slow (make test runs them all).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

typecheck: $(STAMP)
	$(BIN)/python -m mypy

# parcours against the peers, as ratios (docs/performance.md): PARCOURS_PEERS=DIR names the
# peers' folder (without it, parcours alone); BENCH_SIZE episodes (1000000 for the table).
BENCH_SIZE ?= 100000
BENCH_RUNS ?= 3
bench: $(STAMP)
	$(BIN)/python bench/peers.py --size $(BENCH_SIZE) --runs $(BENCH_RUNS)

clean:
	rm -rf out build dist .mypy_cache .pytest_cache
