# The two commands of the README:
#   make demo   set up everything and start the whole system on its embedded defaults
#   make test   install what the tests need and run them all
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the system and its tests use (one list; add here, nowhere else).
SYSTEM_PACKAGES := mmdebstrap espeak-ng sox chromium fonts-noto-cjk

.PHONY: demo test venv system-deps lint

$(BIN)/hotline: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[speech,test]'
	touch $(BIN)/hotline

venv: $(BIN)/hotline

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

demo: venv system-deps
	$(BIN)/hotline up

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: venv system-deps
	$(BIN)/python -m pytest
