# The front door: `make run` and `make test` are all a new user needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_ARGS ?= --reps 24 --days 180 --seed 1

.PHONY: run test lint format check bench bench-pages schemathesis clean messages mutmut

# The locks pin every package, transitive ones included, with their hashes: pip installs exactly
# them (--no-deps: nothing unlisted slips in) and refuses any file whose hash differs.
PIP_INSTALL = $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt
	$(BIN)/python -m pip check
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP_INSTALL) -r requirements-dev.txt
	$(BIN)/python -m pip check
	touch $@

# Recompile the locks from the .in files (see README, "Dependencies"). Existing pins are kept
# unless asked otherwise: make lock LOCK_ARGS="--upgrade-package django" (or --upgrade).
# uv runs from a venv of its own, installed from its own hashed lock, so it is in neither lock.
.PHONY: lock
LOCK_VENV := .venv-lock
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(LOCK_ARGS)

$(LOCK_VENV)/.uv: requirements-uv.txt
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements-uv.txt
	touch $@

lock: $(LOCK_VENV)/.uv
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-dev.in -o requirements-dev.txt
	$(UV_COMPILE) requirements-uv.in -o requirements-uv.txt

run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo $(DEMO_ARGS)
	$(BIN)/python manage.py compute_metrics --all
	@echo
	@echo "  salestrack is starting on http://$(HOST):$(PORT)/  (Ctrl+C to stop)"
	@echo
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.dev
	SALESTRACK_ENV=test $(BIN)/python manage.py makemigrations --check --dry-run
	SALESTRACK_ENV=test $(BIN)/pytest $(PYTEST_ARGS)

# Schemathesis against the OpenAPI schema (every operation, no server errors); part of `make test` too.
schemathesis: $(VENV)/.dev
	SALESTRACK_ENV=test $(BIN)/pytest tests/api/test_schema.py $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: $(VENV)/.runtime
	SALESTRACK_ENV=production DEBUG=false SECRET_KEY=$$($(BIN)/python -c 'import secrets;print(secrets.token_urlsafe(64))') \
		ALLOWED_HOSTS=salestrack.example.com $(BIN)/python manage.py check --deploy --fail-level WARNING

# Rebuild the translation catalogues after changing user-facing strings (needs gettext).
messages: $(VENV)/.dev
	$(BIN)/python manage.py makemessages --all --ignore=.venv --ignore=staticfiles
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) $(LOCK_VENV) staticfiles db.sqlite3* test-artifacts .pytest_cache

# The metrics engine against hand-written SQL at scale. Needs PostgreSQL: BENCH_DATABASE_URL
# (default postgres://postgres@127.0.0.1:5432/salestrack_bench) names a database the bench
# may drop and rebuild. Results go to docs/benchmarks.md. Quick run: make bench BENCH_ARGS="--scale 0.02"
bench: $(VENV)/.dev
	$(BIN)/python bench/bench_metrics.py $(BENCH_ARGS)

# The dashboard and leaderboard pages' server time on the same dataset (built if missing).
bench-pages: $(VENV)/.dev
	$(BIN)/python bench/bench_pages.py $(BENCH_ARGS)

# Mutation testing of the metric formulas (docs/testing.md): mutmut changes one comparison,
# operator or constant at a time in the formula functions below and runs the formula tests
# (tests/metrics/test_boundaries.py) against each change; a change no test notices is a gap.
# Needs PostgreSQL: MUTMUT_DATABASE_URL names a database whose test copy (test_<name>) is
# migrated once and kept between the mutants' runs. MUTMUT_FORMULAS="" mutates the whole files.
MUTMUT_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/salestrack_mutmut
MUTMUT_CHILDREN ?= 2
MUTMUT_FORMULAS ?= 'metrics.rollup.x_ratio__*' 'metrics.rollup.x__money__*' 'metrics.rollup.x_derived__*' \
	'metrics.rollup.x__sum_targets__*' 'metrics.rollup.xǁ_TargetBookǁ*' 'metrics.rollup.x__rollup_metrics__*' \
	'metrics.rollup.x_funnel_sums__*' 'metrics.rollup.x_funnel_steps__*' 'metrics.rollup.x_reach_expression__*' \
	'metrics.rollup.x__pearson__*' 'metrics.rollup.x_local_day_bounds__*' 'metrics.dashboard.x_pace__*' \
	'metrics.dashboard.x__delta__*' 'leaderboards.selectors.x__ratio__*' 'leaderboards.selectors.x__ranked__*' \
	'leaderboards.selectors.x__rows__*' 'leaderboards.selectors.x__typed__*'
mutmut: $(VENV)/.dev
	# A fresh copy each time: mutmut keeps whatever it finds in mutants/.
	rm -rf mutants
	SALESTRACK_ENV=test DATABASE_URL=$(MUTMUT_DATABASE_URL) $(BIN)/mutmut run --max-children $(MUTMUT_CHILDREN) $(MUTMUT_FORMULAS)
	$(BIN)/mutmut results
