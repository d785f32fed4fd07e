# Two entry points for a fresh machine; both install what they need into .venv.
PYTHON ?= python3
VENV ?= .venv

.PHONY: quickstart test install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

quickstart: $(VENV)/.installed
	bash scripts/system-deps.sh
	bash examples/quickstart/run.sh

test: $(VENV)/.installed
	bash scripts/system-deps.sh
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
