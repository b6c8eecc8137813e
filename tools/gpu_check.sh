#!/usr/bin/env bash
# The GPU check in one command, for a CUDA machine without network (Python 3.12 with torch there):
# installs what that machine lacks from the wheels tools/gpu_wheels.sh downloads into .whl/, builds
# pydensecrf2, builds mmcv's ops with every core in the background while the first parts run, then
# runs tools/gpu_check.py, all inside DEADLINE_S seconds (default 420).
#
#   tools/gpu_wheels.sh                     # here, with PyPI: .whl/ (ignored by git; carry it)
#   tools/gpu_check.sh OUT [DEADLINE_S] [gpu_check.py options]
#                                           # there: OUT/gpu_check.md, .json, .log, the build logs
#
# mmcv is built with its CPU kernels only (CUDA_VISIBLE_DEVICES empty): the segmenter's layers are
# torch's own, mmseg only imports mmcv.ops, and the CUDA kernels would take longer to compile than
# the whole check may last. Where the build fails or is late, the segmenter parts say so and the
# rest of the table stands.
set -uo pipefail
out=${1:?usage: tools/gpu_check.sh OUT [DEADLINE_S] [gpu_check.py options]}
deadline=${2:-420}
shift $(($# < 2 ? $# : 2))
start=$SECONDS
wheels=${WHEELS:-.whl}
site=${SITE:-/tmp/gpu_check_site}
python=${PYTHON:-python3}
mkdir -p "$out" "$site"
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
pip=("$python" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-cache-dir --target "$site")

if ! "${pip[@]}" --no-compile --upgrade "$wheels"/*.whl >"$out/install.log" 2>&1; then
  echo "gpu_check: the wheels in $wheels did not install (run tools/gpu_wheels.sh and carry $wheels):"
  tail -20 "$out/install.log"
  exit 1
fi
if ! "${pip[@]}" --no-build-isolation "$wheels"/pydensecrf2-*.tar.gz >"$out/pydensecrf2_build.log" 2>&1; then
  echo "gpu_check: pydensecrf2 did not build:"
  tail -20 "$out/pydensecrf2_build.log"
  exit 1
fi
echo "gpu_check: wheels and pydensecrf2 installed in $((SECONDS - start)) s"

status=$out/mmcv_build.status
rm -f "$status"
(
  CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$(nproc) \
    "${pip[@]}" --no-build-isolation "$wheels"/mmcv-*.tar.gz >"$out/mmcv_build.log" 2>&1
  echo $? >"$status.tmp" && mv "$status.tmp" "$status"
) &
build=$!

left=$((deadline - (SECONDS - start) - 20))
# Stage and mmengine messages go to gpu_check.out; the table comes last.
timeout --kill-after=10 $((left + 10)) "$python" tools/gpu_check.py "$out" --deadline "$left" --mmcv-status "$status" "$@" \
  >"$out/gpu_check.out" 2>&1
code=$?
grep -E '^[a-z_ ]+: (ok|skipped|failed|over budget)' "$out/gpu_check.out"
cat "$out/gpu_check.md" 2>/dev/null || tail -30 "$out/gpu_check.out"
kill "$build" 2>/dev/null
echo "gpu_check: finished in $((SECONDS - start)) s (exit $code); mmcv build status: $(cat "$status" 2>/dev/null || echo unfinished)"
exit $code
