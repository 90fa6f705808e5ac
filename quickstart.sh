#!/usr/bin/env bash
# The tutorial on a fresh machine in one command (Linux and macOS; Windows: the README's "Install" steps):
#
#   bash quickstart.sh                # .venv, the PyTorch build for this machine, the packages, then Steps 1-3
#   bash quickstart.sh --setup-only   # only the virtual environment and the packages
#
# PyTorch: on Linux without an NVIDIA GPU the CPU-only build (a plain `pip install torch` would download the
# CUDA build, several GB, for nothing); with an NVIDIA GPU, or on a Mac, the default build. A PyTorch already in
# .venv is kept. TORCH_SPEC overrides the choice, e.g. TORCH_SPEC="torch==2.13.0" for a pinned version.
# Steps 1-3 write to checkpoints/quickstart/, prediction.png, prediction_viz.png and outputs/quickstart_scores.csv,
# and a second run redoes them (--overwrite).
set -euo pipefail
cd "$(dirname "$0")"

setup_only=false
case "${1:-}" in
  "") ;;
  --setup-only) setup_only=true ;;
  *) echo "ERROR: $1: unknown option; use bash quickstart.sh or bash quickstart.sh --setup-only" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "ERROR: $python: Python 3.10 or newer is needed; install it, or give its path with PYTHON=/path/to/python3" >&2
  exit 2
fi

echo "INFO: [1/4] virtual environment .venv"
[ -x .venv/bin/python ] || "$python" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip

echo "INFO: [2/4] PyTorch"
if python -c "import torch" 2>/dev/null; then
  echo "INFO: keeping PyTorch $(python -c 'import torch; print(torch.__version__)') of .venv"
elif [ -n "${TORCH_SPEC:-}" ]; then
  python -m pip install --quiet "$TORCH_SPEC"
elif [ "$(uname -s)" = "Linux" ] && ! (command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1); then
  echo "INFO: no NVIDIA GPU: the CPU-only build"
  python -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu || {
    echo "ERROR: the CPU build of PyTorch did not install (see pip's message above); check the network, or give" \
         "another build with TORCH_SPEC, e.g. TORCH_SPEC=torch bash quickstart.sh" >&2; exit 2; }
else
  python -m pip install --quiet torch
fi

echo "INFO: [3/4] the other packages (requirements.txt)"
python -m pip install --quiet -r requirements.txt
python test_pytorch.py | tail -n 2

if $setup_only; then
  echo "INFO: set up; activate the environment with: source .venv/bin/activate"
  exit 0
fi

echo "INFO: [4/4] Steps 1-3 of the README: train, predict, score"
python train.py --epochs 10 --batch-size 2 --validation 20 --checkpoint-dir checkpoints/quickstart --overwrite
python predict.py -m checkpoints/quickstart/checkpoint_epoch10.pth -i data/imgs/test_0.png -o prediction.png --viz
python evaluate.py -m checkpoints/quickstart/checkpoint_epoch10.pth --data-dir data --csv outputs/quickstart_scores.csv
echo "INFO: done. Look at prediction_viz.png and checkpoints/quickstart/training_curves.png;" \
     "run the tests with: .venv/bin/python -m pytest -q tests"
