#!/usr/bin/env bash
# Download, on a machine with PyPI, what the GPU machine lacks for tools/gpu_check.sh: wheels for
# CPython 3.12 on x86-64 Linux, and the sources of the two packages built there (mmcv's ops and
# pydensecrf2 compile against that machine's torch and numpy).
# Usage: tools/gpu_wheels.sh [FOLDER]   (default .whl, ignored by git; name it in the run's carry)
# PYTHON_VERSION (default 3.12, the GPU machine's) picks the wheels' CPython.
# Versions are the ones this project's environment holds (pip freeze of .venv), so the GPU check
# runs the stack the tests run. The GPU machine already has torch, torchvision, numpy, scipy,
# pillow, opencv, matplotlib, pyyaml, regex, rich, tqdm, attrs and packaging.
set -euo pipefail
folder=${1:-.whl}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
wheels=(mmengine mmsegmentation ftfy wcwidth jsonschema jsonschema-specifications referencing
  rpds-py addict yapf termcolor platformdirs prettytable setuptools)  # setuptools<81: mmcv's build imports pkg_resources
pure=(openai-clip)  # published as source only; pure Python, so a wheel built here fits any CPython 3
sources=(mmcv pydensecrf2)

frozen=$("$python" -m pip freeze --all --disable-pip-version-check)
pin() {
  local line
  line=$(grep -i "^$1==" <<<"$frozen") || { echo "gpu_wheels: $1 is not installed in $python" >&2; exit 1; }
  echo "$line"
}

mkdir -p "$folder"
rm -f "$folder"/*.whl "$folder"/*.tar.gz
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
for name in "${wheels[@]}"; do
  "$python" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version "${PYTHON_VERSION:-3.12}" --implementation cp "${platforms[@]}" -d "$folder" "$(pin "$name")"
done
for name in "${pure[@]}"; do
  "$python" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w "$folder" "$(pin "$name")"
done
for name in "${sources[@]}"; do
  "$python" -m pip download -q --disable-pip-version-check --no-deps --no-build-isolation --no-binary=:all: -d "$folder" "$(pin "$name")"
done
du -sh "$folder"
ls "$folder"
