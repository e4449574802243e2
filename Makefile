# One entry point for users and CI: `make run` and `make test` install what is missing,
# build incrementally, and run. Both are idempotent.
SHELL := /bin/bash
BUILD ?= build
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION := 2.11.0
APT_PACKAGES := cmake ninja-build ccache g++ python3 python3-venv python3-dev \
                catch2 nlohmann-json3-dev libcli11-dev libstb-dev
CONFIG ?= examples/configs/default.json
OUT ?= runs/default
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Test-only Python packages (the library never needs Python at run time).
TEST_REQUIREMENTS := python/requirements-test.txt

.PHONY: setup build run test bench clean python-install stubs

setup: $(VENV)/.torch-$(TORCH_VERSION)

# Installs only the Debian packages that are missing.
.apt-stamp:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	@touch $@

$(VENV)/.torch-$(TORCH_VERSION): .apt-stamp
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION) numpy
	@touch $@

$(VENV)/.test-requirements: $(TEST_REQUIREMENTS) $(VENV)/.torch-$(TORCH_VERSION)
	$(PY) -m pip install -q -r $(TEST_REQUIREMENTS)
	@touch $@

$(BUILD)/build.ninja: $(VENV)/.torch-$(TORCH_VERSION)
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DSDS_PYTHON=ON \
	  -DCMAKE_PREFIX_PATH="$$($(PY) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" \
	  -DPython_EXECUTABLE=$(abspath $(PY))

build: $(BUILD)/build.ninja
	cmake --build $(BUILD)

run: build
	$(BUILD)/sds generate --config $(CONFIG) --out $(OUT)

# `import sds` in the venv from any folder: a .pth pointing at the package the build assembles
# (an editable install; `pip install --no-build-isolation .` makes a real one, see docs/python.md).
python-install: build
	@echo "$(abspath $(BUILD))/python" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/sds-build.pth"

# The type stubs of sds._C (committed; a test checks they match the bindings).
stubs: build $(VENV)/.test-requirements
	PYTHONPATH=$(BUILD)/python $(PY) -m pybind11_stubgen sds._C -o $(BUILD)/stubs --exit-code
	cp $(BUILD)/stubs/sds/_C/*.pyi python/sds/_C/

test: build python-install $(VENV)/.test-requirements
	cd $(BUILD) && ctest --output-on-failure

bench: build
	$(BUILD)/bench/bench_composite_rays

clean:
	rm -rf $(BUILD)
