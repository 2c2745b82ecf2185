# labkit — set-up and checks. `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.labkit-installed
DEV    := $(VENV)/.labkit-dev

.PHONY: demo test lab bench clean

# torch first, pinned: any other torch request would pull GBs of CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (labkit)" >/dev/null
	touch $@

## demo: the main job on the embedded default data (a SynthTalk portrait + a bundled sentence → out/demo.mp4)
demo: $(STAMP)
	$(BIN)/labkit animate -o out/demo.mp4 --overwrite
	@echo "the talking-face video is at $(CURDIR)/out/demo.mp4 (check its provenance: $(BIN)/labkit verify out/demo.mp4)"

## test: lint (ruff), the import contracts (import-linter), then the unit tests and the notebooks under nbval
test: $(DEV)
	$(BIN)/ruff check labkit tests
	$(BIN)/lint-imports
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

## lab: JupyterLab on the notebooks, with the project's kernel and widgets
lab: $(DEV)
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

## bench: speed and realism figures (see README)
bench: $(STAMP)
	$(BIN)/labkit bench synth
	$(BIN)/labkit bench animate

clean:
	rm -rf $(VENV) out notebooks/_out .pytest_cache
