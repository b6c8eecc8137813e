#!/usr/bin/env bash
# Run by Snakemake (--use-conda) once it has created the environment from environment.yml: the
# packages that compile against the installed torch and numpy, then this project itself.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python -m pip install --no-build-isolation "pydensecrf2==1.1"
MMCV_WITH_OPS=1 python -m pip install --no-build-isolation "mmcv==2.1.0"
python -m pip install --no-deps --no-build-isolation -e "$here"
