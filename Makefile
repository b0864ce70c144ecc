# Two commands for newcomers: `make demo` and `make test`. Each sets up .venv first;
# the set-up runs again only when pyproject.toml changes (or .venv is gone).

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test

demo: $(STAMP)
	$(VENV)/bin/customer-groups demo

# SQLite by default; with CUSTOMER_GROUPS_TEST_DATABASE_URL set, the same run on PostgreSQL.
# Bytecode is cached (in the ignored __pycache__ folders) even where the environment says
# PYTHONDONTWRITEBYTECODE: otherwise every server and command the suite starts compiles
# the whole package again, and every run rewrites the tests' asserts again.
test: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -q -n auto --dist loadfile --no-loadscope-reorder

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@
