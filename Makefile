# The two commands a new user needs:  `make report`  and  `make test`.
# Both create .venv/ and install srlib into it on first use; nothing else is assumed installed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MODE   ?= quick
STAMP  := $(VENV)/.installed

# Data roots, first = where downloads and the embedded default go. The shared benchmark and training
# sets of the development machines are added when they exist beside the checkout.
SHARED ?= $(abspath ../shared/data)
SRLIB_DATA_DIR ?= $(CURDIR)/data$(if $(wildcard $(SHARED)/benchmarks),:$(SHARED)/benchmarks)$(if $(wildcard $(SHARED)/train),:$(SHARED)/train)
export SRLIB_DATA_DIR
export PYTHONUNBUFFERED := 1

.PHONY: report test lint format strip bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

report: $(STAMP)  ## regenerate the report (quick mode; MODE=full on a GPU)
	$(BIN)/srlib data mini
	$(BIN)/srlib report --mode $(MODE)

test: $(STAMP)  ## lint, unit tests, and every notebook through nbval with quick parameters
	$(BIN)/ruff check .
	$(BIN)/srlib data mini
	SRLIB_FIGURES_DIR=$(CURDIR)/build/test-figures $(BIN)/pytest tests notebooks \
		--nbval-lax --nbval-current-env -p no:cacheprovider --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

strip: $(STAMP)  ## clear notebook outputs before committing
	$(BIN)/nbstripout notebooks/*.ipynb

bench: $(STAMP)  ## speed and memory table, appended to BENCHMARKS.md
	$(BIN)/srlib bench

clean:
	rm -rf build
