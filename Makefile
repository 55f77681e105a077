# Hands-On MLOps. A newcomer needs two commands:
#   make lab    set up on first run, then open JupyterLab on lesson 00
#   make test   set up on first run, then run the whole test suite (what CI runs)

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
# nbgrader shells out to alembic, and lessons call dvc, mlflow and hadolint: the venv's bin/ comes first.
export PATH := $(BIN):$(PATH)
# No tool phones home from this course (see src/mlops_course/privacy.py for the full list).
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export EVIDENTLY_DISABLE_TELEMETRY := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

WORKERS ?= 2
PYTEST  := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: setup lab test test-lessons test-solutions test-package check-clean build-labs bench lock clean

setup: $(STAMP)

# A fresh, exact environment: every package at the version in requirements.lock, nothing else.
# uv (pinned in the lock, fetched from PyPI into the venv) installs the lock in seconds; where uv
# cannot be installed, or with `make setup INSTALLER=pip`, plain pip installs the same lock (slower).
# Both compile the packages to bytecode at install (pip does by default, uv with --compile-bytecode):
# the grader's sandbox mounts the environment read-only, so a module without its .pyc there is
# compiled again by every kernel (measured: lab 06's grading run took 30 s without, 18 s with).
INSTALLER  ?= uv
UV_VERSION := $(shell sed -n 's/^uv==//p' requirements.lock)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)
	@if [ "$(INSTALLER)" = uv ] && $(BIN)/python -m pip install --quiet uv==$(UV_VERSION); then \
	  echo "$(BIN)/uv pip install --no-deps -r requirements.lock"; \
	  $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -r requirements.lock && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . ; \
	else \
	  echo "uv is unavailable: installing requirements.lock with pip (slower)"; \
	  $(BIN)/python -m pip install --quiet --no-deps -r requirements.lock && \
	  $(BIN)/python -m pip install --quiet --no-deps -e . ; \
	fi
	@# The notebooks store the kernel "python3" shown as "Python 3": the same name keeps them unmodified on open.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" > /dev/null
	PYTHON=$(BIN)/python bash binder/configure-jupyter.sh > /dev/null
	touch $@

# JupyterLab refuses to run as root unless told; containers often run as root.
# LAB_ARGS passes more options (tests/test_browser.py: a free port, a token, no browser).
LAB_ARGS ?=
lab: setup
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --ServerApp.root_dir="$(CURDIR)" \
	  --LabApp.default_url=/lab/tree/notebooks/00_lifecycle.ipynb $(LAB_ARGS)

# The whole suite: lessons (nbval strict), then everything in tests/ (the package, structure, environment,
# grading: each solution through real nbgrader, and JupyterLab in a real browser), then a check that the run
# left the repo clean and no process running. Each notebook runs once per check: the solutions are not
# also run under nbval (`make test-solutions` still does that, on demand).
test: setup
	@$(MAKE) --no-print-directory test-all MLOPS_COURSE_TEST_RUN=$$($(BIN)/python -c "import uuid; print(uuid.uuid4().hex)")

test-all: test-lessons test-package check-clean

test-lessons: setup
	$(PYTEST) -p mlops_course.needs_engines -rs -n $(WORKERS) --dist loadscope --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  --nbval-cell-timeout 180 notebooks/

test-solutions: setup
	$(PYTEST) -n $(WORKERS) --dist loadscope --nbval-lax --nbval-current-env --nbval-cell-timeout 120 solutions/

test-package: setup
	$(PYTEST) -rs -n $(WORKERS) --dist load --maxschedchunk 1 --durations=25 tests/

check-clean: setup
	$(BIN)/python tests/check_clean.py

build-labs: setup
	$(BIN)/mlops-course build-labs

bench: setup
	$(BIN)/mlops-course bench --out bench/bench.json --readme

# Re-resolve the lock from environment.yml's direct pins (needs the package index).
# SLOW_OPTIONAL: optional packages left out of the lock. rfc3987-syntax (with lark, its only user) comes in with
# jsonschema[format-nongpl] and compiles an Earley grammar on import: about 1 s in every process that imports
# nbformat (each nbgrader run, each grading of a submission, JupyterLab, nbval). jsonschema skips the "iri"
# format check without it; nothing in the course validates IRIs.
SLOW_OPTIONAL := rfc3987-syntax|lark
lock:
	rm -rf /tmp/mlops-lock-venv && $(PYTHON) -m venv /tmp/mlops-lock-venv
	sed -n 's/^ *- \([A-Za-z0-9_.-]*==[^ #]*\).*/\1/p' environment.yml > /tmp/mlops-direct.txt
	/tmp/mlops-lock-venv/bin/pip install --quiet -r /tmp/mlops-direct.txt
	{ head -3 requirements.lock; /tmp/mlops-lock-venv/bin/pip freeze | grep -v -i -E "^($(SLOW_OPTIONAL))=="; } \
	  > requirements.lock.new && mv requirements.lock.new requirements.lock

clean:
	rm -rf workspace grading $(VENV)
