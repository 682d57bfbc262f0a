#!/usr/bin/env bash
# Build llama-cpp-python from source for this CPU into the wheel cache (scripts/setup.sh runs it in the background
# while the rest installs, where llama_choose_source says "source"):
#  - CPU flags that work here (never GGML_NATIVE: it enables AMX on these Xeons and crashes on the first evaluation);
#  - lean: no multimodal library (LLAVA_BUILD=OFF), no `common` library and the `llama` library at -O1
#    (llama_lean.cmake: a third less compiling, the same speed and tokens); llama.cpp's tools,
#    examples and tests are off already when it is built as a subproject;
#  - ccache when installed; built into a temporary folder and moved into WHEEL_DIR only when whole.
# Usage: scripts/lib/llama_source_wheel.sh PYTHON WHEEL_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/llama_build.sh
. scripts/lib/llama_build.sh
python=$1
wheel_dir=$2
PYTHON_FOR_PIP=$python
llama_require_toolchain
llama_cpu_flags
llama_fetch_sdist
launcher=""
command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
mkdir -p "$(dirname "$wheel_dir")"
tmp=$(mktemp -d "$wheel_dir.partial.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
CMAKE_ARGS="$flags $(llama_lean_args) $launcher" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
  "$python" -m pip -q --disable-pip-version-check wheel --no-cache-dir --no-deps -w "$tmp" "$(llama_sdist_file)"
mkdir -p "$wheel_dir"
mv "$tmp"/llama_cpp_python-*.whl "$wheel_dir"/
echo "built $(ls "$wheel_dir")"
