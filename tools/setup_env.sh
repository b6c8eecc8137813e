#!/usr/bin/env bash
# Create (or update) the project's virtual environment with the pinned stack.
# Usage: tools/setup_env.sh VENV_DIR
# Steps that need an already-installed torch (mmcv's C++/CUDA ops) run last, without build
# isolation, so that they compile against the torch pinned in requirements.txt.
set -euo pipefail
venv=${1:-.venv}
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
# Build tools first: openai-clip imports pkg_resources (removed in setuptools 81).
"${pip[@]}" install -q "pip==26.3" "setuptools==80.10.2" "wheel==0.48.0" "cython==3.3.1" "numpy==2.4.6"
"${pip[@]}" install -q -r "$here/requirements.txt"
# Packages compiled against the installed torch/numpy.
"${pip[@]}" install -q --no-build-isolation "pydensecrf2==1.1"
if ! "$venv/bin/python" -c "import mmcv, mmcv.ops" 2>/dev/null; then
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "${pip[@]}" install --no-build-isolation "mmcv==2.1.0"
fi
"${pip[@]}" install -q --no-deps --no-build-isolation -e "$here"
"$venv/bin/python" - <<'PY'
import torch, torchvision, clip, pydensecrf.densecrf, snakemake, mmcv, mmcv.ops, mmseg, mmengine
print(f"environment ready: torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"mmcv {mmcv.__version__}, mmseg {mmseg.__version__}, cuda={torch.cuda.is_available()}")
PY
