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

.PHONY: setup build run test bench clean python-install stubs sanitize

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
	# Only for the real CLIP BPE merges its wheel ships (bpe_simple_vocab_16e6.txt.gz); without its
	# dependencies, which would replace the pinned torch.
	$(PY) -m pip install -q --no-deps open_clip_torch==3.3.0
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

# AddressSanitizer + UndefinedBehaviorSanitizer over the whole C++ suite, in its own folder: CPU
# only, no Python extension, -O1 -g with frame pointers. Slow (a full rebuild, then every test
# under the sanitizers), so not part of `make test`/CI; run it by hand. Torch's own libraries are
# not instrumented: findings are in our code (or in torch headers inlined into it).
SANITIZE_BUILD ?= build-sanitize
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# allocator_may_return_null: a failed huge allocation throws in torch as it does without ASan
# (tests check that), instead of ASan aborting the process.
# detect_leaks=1: LeakSanitizer stays quiet about torch's process-lifetime allocations (they stay
# reachable from its globals), so a report is a real leak. SANITIZE_LEAKS=0 turns it off.
SANITIZE_LEAKS ?= 1
SANITIZE_ENV := ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=$(SANITIZE_LEAKS):allocator_may_return_null=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# install_consumer builds another project against the installed (instrumented) archives: its
# fresh CMake configure reads the sanitizer flags from CXXFLAGS/LDFLAGS.
SANITIZE_ENV += CXXFLAGS="$(SANITIZE_FLAGS)" LDFLAGS="$(SANITIZE_FLAGS)"

$(SANITIZE_BUILD)/build.ninja: $(VENV)/.torch-$(TORCH_VERSION)
	cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$(SANITIZE_FLAGS)" -DCMAKE_SHARED_LINKER_FLAGS="$(SANITIZE_FLAGS)" \
	  -DSDS_CUDA=OFF -DSDS_PYTHON=OFF -DSDS_BENCH=OFF -DSDS_WERROR=OFF \
	  -DCMAKE_PREFIX_PATH="$$($(PY) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"

# CTEST_ARGS passes options on, e.g. make sanitize CTEST_ARGS="-R composite_rays".
sanitize: $(SANITIZE_BUILD)/build.ninja
	cmake --build $(SANITIZE_BUILD)
	cd $(SANITIZE_BUILD) && $(SANITIZE_ENV) ctest --output-on-failure $(CTEST_ARGS)

bench: build
	$(BUILD)/bench/bench_composite_rays

clean:
	rm -rf $(BUILD)
