# rorunner developer targets. `make test` and `make demo` work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
N ?= 4
LAB_NAME ?= lab
# auto = network namespaces when root, else sshd on [::1]; `make test LAB_MODE=loopback` forces the fallback.
LAB_MODE ?= $(or $(RORUNNER_LAB_MODE),auto)
export RORUNNER_LAB_MODE := $(LAB_MODE)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o=Dpkg::Use-Pty=0

.PHONY: test lint typecheck unit deps sshd chromium graphviz lab-up lab-down demo dashboard doc-images bench clean

$(BIN)/rorunner: pyproject.toml
	$(PY) -m venv $(VENV) || { rm -rf $(VENV); $(SUDO) apt-get update -qq && \
	  $(APT_INSTALL) python3-venv >/dev/null && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

deps: $(BIN)/rorunner sshd chromium graphviz

# The lab needs a real OpenSSH server and client, iproute2, util-linux and sudo (the fleet
# lab's become users); install what is missing.
sshd:
	@test -x /usr/sbin/sshd && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null && \
	  command -v ip >/dev/null && command -v nsenter >/dev/null && test -x /usr/bin/sudo || { \
	  echo "installing openssh-server openssh-client iproute2 util-linux sudo"; \
	  $(SUDO) apt-get update -qq && \
	  $(APT_INSTALL) openssh-server openssh-client iproute2 util-linux sudo >/dev/null; }

# The dashboard's browser tests drive Debian's headless Chromium through its driver
# (nothing is downloaded at test time); install them when missing.
chromium:
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { \
	  echo "installing chromium chromium-driver"; \
	  $(SUDO) apt-get update -qq && \
	  $(APT_INSTALL) chromium chromium-driver >/dev/null; }

# tests/test_graph_render.py renders `--graph dot` with Graphviz's own `dot`; install it when missing.
graphviz:
	@command -v dot >/dev/null || { \
	  echo "installing graphviz"; \
	  $(SUDO) apt-get update -qq && \
	  $(APT_INSTALL) graphviz >/dev/null; }

LINT_PATHS := $(wildcard rorunner tests bench examples)

lint: $(BIN)/rorunner
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

test: deps lint
	$(BIN)/pytest -q

unit: $(BIN)/rorunner
	$(BIN)/pytest -q -m 'not lab'

lab-up: deps
	$(BIN)/python -m tests.lab up --hosts $(N) --mode $(LAB_MODE) --name $(LAB_NAME)

lab-down: $(BIN)/rorunner
	$(BIN)/python -m tests.lab down --name $(LAB_NAME)

demo: deps
	$(BIN)/python -m tests.lab up --hosts $(N) --mode $(LAB_MODE) --name demo
	$(BIN)/rorunner play playbooks/site.yml -i .lab/demo/inventory.ini \
	  --known-hosts .lab/demo/known_hosts --private-key .lab/demo/id_ed25519; \
	  rc=$$?; $(BIN)/python -m tests.lab down --name demo; exit $$rc

# The read-only dashboard of the example project's runs (after `make demo`): http://127.0.0.1:8050/
dashboard: $(BIN)/rorunner
	$(BIN)/rorunner dashboard

# The README's dashboard screenshots, taken by the browser tests of a lab run.
doc-images: deps
	RORUNNER_UPDATE_DOC_IMAGES=1 $(BIN)/pytest -q tests/test_dashboard_lab.py

bench: deps
	$(BIN)/python bench/inventory_scale.py
	$(BIN)/python bench/rtas.py
	$(BIN)/python bench/plan_scale.py
	$(BIN)/python bench/noop.py

clean:
	rm -rf $(VENV) .rorunner .lab .pytest_cache .mypy_cache .ruff_cache test-artifacts
