# `make serve` and `make test` install what is missing, build in release mode and run.
SHELL := /bin/bash
APT_PACKAGES := libopenblas-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev libssl-dev libsqlite3-dev \
                libpq-dev postgresql dataset-fashion-mnist libonnx-testdata curl python3-venv wrk chromium chromium-driver
SWIFT_BUILD_FLAGS := -c release
BIN := .build/release/salient
VENV := .venv
TORCH_VENV := .venv-torch

.PHONY: all deps build serve test test-zoo test-parity fuzz-short venv bench-venv bench bench-clients bench-torchvision zoo-models clean

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing system packages:$$missing"; \
	    echo "run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

build: deps
	swift build $(SWIFT_BUILD_FLAGS)

serve: build
	$(BIN) serve

# A virtual environment with the Python references (onnxruntime, onnx, numpy, Pillow) that tests compare against,
# and the Open Inference Protocol's real clients (Triton's tritonclient, the kserve SDK) that tests drive the service with.
venv: deps
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@$(VENV)/bin/python -c "import onnxruntime, onnx, numpy, PIL, tritonclient.http, kserve" 2>/dev/null || \
	  $(VENV)/bin/pip install -q onnxruntime onnx numpy pillow "tritonclient[http]" kserve

# PyTorch, torchvision and Captum for the bench's saliency and training references (5 GB, so
# never part of `make test`), with onnxruntime for the torchvision zoo's reference logits.
# Newer torch/torchvision pairs on PyPI disagree on CPU vs CUDA builds.
bench-venv:
	@test -x $(TORCH_VENV)/bin/python || python3 -m venv $(TORCH_VENV)
	@$(TORCH_VENV)/bin/python -c "import torch, torchvision, captum, onnx, onnxruntime" 2>/dev/null || \
	  $(TORCH_VENV)/bin/pip install -q "torch==2.5.1" "torchvision==0.20.1" captum onnx onnxruntime "numpy<2"

bench: build venv bench-venv
	$(BIN) bench

# The suite runs on one build with Swift's checks on everywhere (overflow, bounds, preconditions;
# SALIENT_CHECKED=1 in .build-checked), `swift test` building the `salient` the served tests run
# too. The release build differs only by -Ounchecked on the engine, which removes checks and
# nothing else, so what passes here passes there; a second full build would double CI's
# time (docs/DECISIONS.md). Tests import modules as users do (no @testable). Then a short run
# of each fuzzer.
CHECKED_SCRATCH := .build-checked
CHECKED_BIN := $(CHECKED_SCRATCH)/release/salient

test: deps venv
	SALIENT_CHECKED=1 SALIENT_PYTHON=$(CURDIR)/$(VENV)/bin/python \
	  swift test $(SWIFT_BUILD_FLAGS) --scratch-path $(CHECKED_SCRATCH) --disable-testable-imports
	python3 Tests/attacks/test_network.py --salient $(CHECKED_BIN)
	$(VENV)/bin/python Tests/clients/test_inference_clients.py --salient $(CHECKED_BIN)
	python3 Tests/ui/test_ui.py --serve-command "$(CHECKED_BIN) serve" --healthcheck-command "$(CHECKED_BIN) healthcheck"
	python3 Tests/replicas/test_replicas.py --salient $(CHECKED_BIN)
	$(MAKE) fuzz-short

# Triton's perf_analyzer (PyPI perf-analyzer, installed by scripts/perf_analyzer.sh) and wrk against the same /v2
# inference at several concurrencies, side by side, into bench/results/ (about two minutes).
bench-clients: build venv
	$(VENV)/bin/python scripts/bench_inference_clients.py --salient $(BIN)

# torchvision's classification catalogue as ONNX, with onnxruntime's logits and Captum's
# saliency beside each model, in .build/torchvision-zoo (an hour or more the first time; kept after).
zoo-models: bench-venv
	$(TORCH_VENV)/bin/python scripts/torchvision_zoo.py

# Every CNN of the torchvision suite (make zoo-models first) beside onnxruntime (inference) and PyTorch + Captum
# (gradient saliency) at 1 and 2 threads, into .build/bench-torchvision.jsonl, then its table (an hour or more).
bench-torchvision: build venv bench-venv
	$(TORCH_VENV)/bin/python scripts/bench_torchvision.py
	$(TORCH_VENV)/bin/python scripts/bench_torchvision.py --table

# Every exported model against onnxruntime and Captum, and a fine-tuning step, one line each
# (Tests/ZooTests; the table also goes to .build/torchvision-zoo/report.md).
test-zoo: build zoo-models
	SALIENT_ZOO=$(CURDIR)/.build/torchvision-zoo SALIENT_ZOO_REPORT=$(CURDIR)/.build/torchvision-zoo/report.md \
	  swift test $(SWIFT_BUILD_FLAGS) --disable-testable-imports --filter TorchvisionZooTests

# Each fuzzer over its corpus and then a fixed number of executions in all (about 20 s each
# here); fuzz/*/run.sh without FUZZ_RUNS fuzzes for minutes.
fuzz-short: deps
	FUZZ_RUNS=100000 fuzz/http/run.sh
	FUZZ_RUNS=2000 fuzz/imaging/run.sh
	FUZZ_RUNS=10000 fuzz/onnx/run.sh

clean:
	rm -rf .build .build-checked .build-fuzz

# Every saliency method against Captum's (scripts/captum_parity.py) on torchvision architectures,
# in .build/captum-parity (about half an hour the first time on two busy cores; kept after).
test-parity: build bench-venv
	@test -f .build/captum-parity/efficientnet_b0/meta.json || $(TORCH_VENV)/bin/python scripts/captum_parity.py
	SALIENT_CAPTUM_PARITY=$(CURDIR)/.build/captum-parity swift test $(SWIFT_BUILD_FLAGS) --disable-testable-imports --filter CaptumParityTests
