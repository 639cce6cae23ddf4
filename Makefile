# Two entry points: `make demo` (set up, build the index, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint browser-deps postgres-deps

setup: $(STAMP)

# torch first, from the CPU wheel on local disk: any later resolver pass then
# finds it satisfied and never reaches for the CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,distributed,bench]'
	@if $(BIN)/pip list 2>/dev/null | grep -qiE '^nvidia[-_]'; then echo "CUDA packages were installed: refusing" >&2; exit 1; fi
	touch $@

# The page's "browsing as" picker offers these demo users; their event tokens
# are signed with a secret made once per machine and kept out of the repo.
DEMO_USERS ?= ["alex","sam"]
demo: setup
	@mkdir -p var && [ -s var/user-token-secret ] || \
	  $(BIN)/python -c "import secrets; print(secrets.token_hex(32))" > var/user-token-secret
	MARKETPLACE_USER_TOKEN_SECRET="$$(cat var/user-token-secret)" \
	MARKETPLACE_DEMO_USERS='$(DEMO_USERS)' $(BIN)/marketplace demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Browser tests need Debian's chromium + chromium-driver; install them where we can.
browser-deps:
	@command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium-driver not installed and cannot apt-get: browser tests will be skipped"; fi; }

# The PostgreSQL back-end's tests start a throwaway server from Debian's postgresql
# (initdb + pg_ctl, see tests/fixtures/postgres.py); install it where we can.
postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "postgresql not installed and cannot apt-get: PostgreSQL back-end tests will be skipped"; fi; }

test: setup lint browser-deps postgres-deps
	$(BIN)/pytest -q -m "not realdata" -p no:cacheprovider
