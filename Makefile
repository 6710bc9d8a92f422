# The two commands: `make demo` and `make test`. Both set up .venv first.
# `make test` runs the suite on SQLite; DATABASE_URL=postgres://... or
# mysql://... runs it on that server (README "Databases"). PYTHON, VENV and
# DJANGO (a requirement such as "Django>=5.2,<6") pick a CI matrix leg.
# `make typecheck` runs mypy --strict on sms and sms_outbox.
PYTHON ?= python3
VENV ?= .venv
DJANGO ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mysqlclient builds against the client headers: only installed when needed.
MYSQL_STAMP := $(if $(filter mysql%,$(DATABASE_URL)),$(VENV)/.mysql)

.PHONY: demo test run lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]" --group test $(if $(DJANGO),"$(DJANGO)")
	touch $(STAMP)

$(VENV)/.mysql: $(STAMP)
	$(BIN)/python -m pip install --quiet --group mysql
	touch $@

# pytest exits 5 when it collects no tests, which fails the target too.
test: $(STAMP) $(MYSQL_STAMP)
	NO_PROXY=127.0.0.1,localhost $(BIN)/python -m pytest -q $(PYTEST_ARGS)

$(VENV)/.typing: $(STAMP)
	$(BIN)/python -m pip install --quiet --group typing
	touch $@

# The settings and packages it checks are in pyproject.toml [tool.mypy].
typecheck: $(VENV)/.typing
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The example project: DEBUG=1 gives it development defaults (README "example").
demo: export DEBUG = 1
demo: $(STAMP)
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py demo_send
	$(BIN)/python manage.py send_queued_sms
	@echo "== A reply STOP arrives through the signed Twilio inbound webhook:"
	TWILIO_AUTH_TOKEN=demo-only-token $(BIN)/python manage.py simulate_inbound_sms STOP --from +441134960000
	$(BIN)/python manage.py demo_opt_out +441134960000
	$(BIN)/python manage.py demo_admin

run: export DEBUG = 1
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py runserver $(RUN_ADDR)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache
