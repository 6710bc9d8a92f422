# The two commands: `make demo` and `make test`. Both set up .venv first.
# `make test` runs the suite on SQLite; DATABASE_URL=postgres://... or
# mysql://... runs it on that server (docs/databases.md). PYTHON, VENV and
# DJANGO (a requirement such as "Django>=5.2,<6") pick a CI matrix leg.
# `make docs` builds the documentation site into docs/_build/html.
# `make typecheck` runs mypy --strict on sms and sms_outbox.
# `make dist` builds the sdist and the wheel into dist/ (docs/install.md).
# `make new-user` runs the new user's walk-through (.ci/new_user.py).
PYTHON ?= python3
VENV ?= .venv
DJANGO ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mysqlclient builds against the client headers: only installed when needed.
MYSQL_STAMP := $(if $(filter mysql%,$(DATABASE_URL)),$(VENV)/.mysql)
# pip's chatter (build warnings, index notes) goes to this log; it is printed
# only when an install fails, so `make demo` prints the demo.
INSTALL_LOG := $(VENV)/install.log
PIP_INSTALL = $(BIN)/python -m pip install --quiet

.PHONY: demo test run lint typecheck docs clean dist new-user

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	@echo "== installing django-sms with every extra into $(VENV) (log: $(INSTALL_LOG))"
	@{ $(PIP_INSTALL) --upgrade pip && \
	   $(PIP_INSTALL) -e ".[all]" --group test $(if $(DJANGO),"$(DJANGO)"); \
	 } >$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $(STAMP)

$(VENV)/.mysql: $(STAMP)
	@echo "== installing mysqlclient into $(VENV) (log: $(INSTALL_LOG))"
	@$(PIP_INSTALL) --group mysql >$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $@

$(VENV)/.docs: $(STAMP)
	@echo "== installing the docs tools into $(VENV) (log: $(INSTALL_LOG))"
	@$(PIP_INSTALL) --group docs >$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $@

# pytest exits 5 when it collects no tests, which fails the target too.
test: $(STAMP) $(MYSQL_STAMP)
	NO_PROXY=127.0.0.1,localhost $(BIN)/python -m pytest -q $(PYTEST_ARGS)

$(VENV)/.typing: $(STAMP)
	@echo "== installing mypy and the stubs into $(VENV) (log: $(INSTALL_LOG))"
	@$(PIP_INSTALL) --group typing >$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $@

# The settings and packages it checks are in pyproject.toml [tool.mypy].
typecheck: $(VENV)/.typing
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The example project: DEBUG=1 gives it development defaults
# (docs/example-project.md).
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

# Warnings are errors (-W): a broken link, a page outside the table of
# contents or a docstring that does not parse fails the build.
docs: $(VENV)/.docs
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "== the site is in docs/_build/html/index.html"

$(VENV)/.dist: $(STAMP)
	@echo "== installing build into $(VENV) (log: $(INSTALL_LOG))"
	@$(PIP_INSTALL) --group dist >$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $@

# python -m build makes the sdist, then the wheel from it (so the sdist is
# proved complete), each in an isolated environment pip fills from PyPI.
dist: $(VENV)/.dist
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	@ls dist

# A fresh virtualenv, startproject, the quick start and a user's test run.
new-user:
	$(PYTHON) .ci/new_user.py

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build .mypy_cache
