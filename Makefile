# Two commands for a new user on a fresh Debian machine with Python 3.11:
#   make run   — set everything up, build the demo city, open the board on http://127.0.0.1:8050
#   make test  — set everything up, then run the whole test suite (browser tests included)
# Both are idempotent: a second run skips what is already installed.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
APT_PACKAGES := chromium chromium-driver fonts-noto-cjk poppler-utils postgresql postgresql-15-postgis-3
WORKSPACE ?= workspace

.PHONY: run test setup system venv lint bench clean

run: setup
	$(BIN)/pingan serve --workspace $(WORKSPACE) --demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -p no:cacheprovider

setup: system venv

# System packages: Chromium + chromedriver (browser tests, image export), Noto CJK (Chinese
# glyphs), poppler-utils (pdftotext in the briefing tests), PostgreSQL 15 + PostGIS (the tests start
# their own server in a temporary folder on a loopback port). Skipped when all are present.
system:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

lint: venv
	$(BIN)/ruff check .

bench: setup
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache
