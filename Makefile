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

demo: $(STAMP)
	$(BIN)/python manage.py shell -c "from sms import send_sms; send_sms('Hello from django-sms', None, ['+441134960000']); send_sms('Second message: £5, {braces}', None, '+441134960999')"

clean:
	rm -rf $(VENV) build *.egg-info
