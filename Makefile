# The two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test run lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]" --group test
	touch $(STAMP)

test: $(STAMP)
	NO_PROXY=127.0.0.1,localhost $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The example project: DEBUG=1 gives it development defaults (README "example").
demo: export DEBUG = 1
demo: $(STAMP)
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py demo_send
	$(BIN)/python manage.py send_queued_sms
	$(BIN)/python manage.py demo_admin

run: export DEBUG = 1
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py runserver $(RUN_ADDR)

clean:
	rm -rf $(VENV) build *.egg-info
