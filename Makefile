# Set-up in two commands: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export KERAS_BACKEND ?= torch

.PHONY: install system-deps demo test test-quick lint bench bench-outofcore chaos soak check-java clean

check-java:
	@command -v java >/dev/null 2>&1 || { echo "Java 17 is required by Spark but 'java' is not on PATH: install a JDK/JRE 17 (e.g. apt-get install openjdk-17-jre-headless)."; exit 1; }

install: check-java $(STAMP)

# torch==2.13.0 goes first, on its own: it is the CPU wheel; a looser spec pulls a CUDA build.
$(STAMP): pyproject.toml requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	@# The Spark driver's class archive (~30 s once): halves Spark's start; optional.
	-$(PY) -m cerebro.cli spark-archive
	@touch $(STAMP)

# Debian packages the browser and PostgreSQL tests use; those tests skip (saying why) without
# them. Installed only where apt-get runs as root; a failure here is not fatal.
system-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium, chromium-driver and postgresql (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver postgresql >/dev/null) \
	    || echo "could not install the Debian packages; browser/PostgreSQL tests will skip"; \
	else echo "chromium/postgresql missing and apt-get unavailable; browser/PostgreSQL tests will skip"; fi

demo: install
	$(PY) -m cerebro.demo

# The typed core is checked strictly (mypy settings in pyproject.toml); ruff everywhere.
MYPY_STRICT := cerebro/mop cerebro/engine cerebro/storage cerebro/wire cerebro/search cerebro/backend/scripted.py \
               cerebro/backend/connect.py cerebro/nas cerebro/keras cerebro/records

lint: install
	$(PY) -m ruff check cerebro tests benchmarks
	$(PY) -m mypy $(MYPY_STRICT)

test: install system-deps lint
	$(PY) -m pytest -q tests

test-quick: install
	$(PY) -m pytest -q -m "not slow" tests

bench: install
	$(PY) benchmarks/run.py $(BENCH_ARGS)
	$(PY) benchmarks/honest.py $(HONEST_ARGS)
	$(PY) benchmarks/proposals_sim.py --doc docs/benchmarks.md
	$(MAKE) bench-outofcore

# Out-of-core shards: a Criteo-like table >= 4x the workers' data budget (docs/benchmarks.md).
bench-outofcore: install
	$(PY) benchmarks/outofcore.py $(OUTOFCORE_ARGS)

# Not part of `make test`: a seeded search under worker SIGKILLs, a SIGSTOP and a driver kill,
# compared with the same search undisturbed (figures in docs/reliability.md).
chaos: install
	$(PY) benchmarks/chaos.py $(CHAOS_ARGS)

# Not part of `make test`: Ray-style release test, ~20 min (a quiet run, then the same run
# while every 10 s a random worker is SIGKILLed or SIGSTOPped with probability 0.3 and the
# driver is killed once and rerun); asserts every trial's last epoch, its score, no orphans
# and only the newest and best states in the store (figures in docs/reliability.md).
soak: install
	$(PY) benchmarks/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .demo .bench .pytest_cache .hypothesis
