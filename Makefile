# The two set-up commands (README): `make run` runs the main job, `make test`
# runs every test. Each first installs what it needs into $(VENV): the venv
# sees an already installed torch (system site-packages); without one it gets
# $(TORCH). pygan itself is built with --no-build-isolation against that torch.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pygan-installed
BUILD_INPUTS := setup.py pyproject.toml $(shell find csrc -type f)

.PHONY: run test pytest cpp-test bench install clean

# The main job: DCGAN on scikit-learn's bundled 8x8 digits (resized to 16x16),
# a few minutes on 2 CPU cores; then the metrics against the held-out digits.
RUN_DIR ?= runs/dcgan-digits
run: $(STAMP)
	$(VENV)/bin/pygan train dcgan --data digits --image-size 16 --steps 1500 --out $(RUN_DIR)
	$(VENV)/bin/pygan classifier train --data digits --image-size 16 --out $(RUN_DIR)/classifier.pt
	$(VENV)/bin/pygan eval $(RUN_DIR) --classifier $(RUN_DIR)/classifier.pt

test: pytest cpp-test

pytest: $(STAMP)
	$(PY) -m pytest -q

# ctest of csrc/common plus the CUDA compile check (skipped, with a message,
# where nvcc is missing).
cpp-test: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" cmake -S . -B build/cmake -DPython3_EXECUTABLE=$(abspath $(PY))
	PATH="$(abspath $(VENV))/bin:$$PATH" cmake --build build/cmake -j2
	PATH="$(abspath $(VENV))/bin:$$PATH" ctest --test-dir build/cmake --output-on-failure

bench: $(STAMP)
	$(PY) bench/bench_rmsprop_clip.py
	$(PY) bench/bench_conv_transpose_bn_act.py

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv --system-site-packages $(VENV)

$(STAMP): $(PY) $(BUILD_INPUTS)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH)"
	$(PY) -m pip install setuptools wheel ninja numpy
	command -v cmake >/dev/null || $(PY) -m pip install cmake
	$(PY) -m pip install --no-build-isolation -e '.[test]'
	touch $@

clean:
	rm -rf build $(VENV) pygan/*.so *.egg-info
