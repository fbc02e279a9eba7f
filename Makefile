# Everything the project needs is installed from here: a virtualenv with the pinned Python
# dependencies, and the Debian packages listed below. `make run` and `make test` are the two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the engines need (checked with dpkg, installed with apt-get when missing).
DEBIAN_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra tesseract-ocr-osd poppler-utils \
	libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
PYTEST_ARGS ?=

.PHONY: run test unit integration e2e slow bench lint format typecheck validate build invoke deps debs clean

$(BIN)/.installed: pyproject.toml layers/pdfjobs/requirements.txt requirements/client.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 2>&1 | grep -v 'is ignored: it is neither' || true
	$(BIN)/pip install --quiet -e '.[client,dev]' 2>&1 | grep -v 'is ignored: it is neither' || true
	$(BIN)/python -c 'import pdfjobs, moto, pypdfium2, aws_lambda_powertools'
	touch $@

deps: debs $(BIN)/.installed

debs:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

## Start the whole stack on this machine (no Docker, no AWS account): API on :3000, AWS emulation on :4566.
run: deps
	$(BIN)/python -m pdfjobs.local

## The whole suite: unit, integration and end-to-end (local runtime started by a fixture).
test: deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: deps
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: deps
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

e2e: deps
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

slow: deps
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

## Throughput and latency figures, printed beside their baselines (run by hand, not in CI).
# OCRmyPDF is the baseline the OCR figures are compared with: installed for the benchmark only.
bench: deps
	@dpkg -s ocrmypdf >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ocrmypdf; }
	$(BIN)/python scripts/bench.py

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: deps
	$(BIN)/mypy

validate: deps
	$(BIN)/sam validate --lint --template template.yaml --region us-east-1

build: deps
	$(BIN)/sam build

## Run one function with an event file, as `sam local invoke -e` does: make invoke FN=ApiFunction EVENT=events/api/health.json
invoke: deps
	$(BIN)/python -m pdfjobs.local invoke $(FN) --event $(EVENT)

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
