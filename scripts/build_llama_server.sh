#!/usr/bin/env bash
# Build llama.cpp's `llama-server` from the llama.cpp tree that llama-cpp-python's sdist vendors, with the same CPU
# flags as the embedded wheel, and keep it in ~/.cache/srag-lsp/bin/ (keyed by version and flags): minutes on
# 2 cores the first time, then instant. Prints the binary's path on stdout (progress on stderr).
# Used by the editor benchmark (llama.vim's server) and its test; not part of the README's first command.
#   scripts/build_llama_server.sh            # build if needed, print the path
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/llama_build.sh
. scripts/lib/llama_build.sh
llama_cpu_flags
binary="$SRAG_BUILD_CACHE/bin/llama-server-$LLAMA_VERSION-$key"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
llama_require_toolchain
[ -x .venv/bin/python ] && PYTHON_FOR_PIP=.venv/bin/python
say() { echo "llama-server: $*" >&2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/srag-llama-server.XXXXXX")
trap 'rm -rf "$work"' EXIT
llama_fetch_sdist >&2
sdist=$(llama_sdist_file)
say "unpacking $(basename "$sdist")"
tar -xzf "$sdist" -C "$work" "llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp"
src="$work/llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
start=$(date +%s)
say "configuring ($key); the build takes a few minutes on 2 cores, once per machine"
# shellcheck disable=SC2086
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release $flags "${launcher[@]}" \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >"$work/configure.log" 2>&1 || { tail -n 30 "$work/configure.log" >&2; exit 1; }
say "compiling"
cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 \
  || { tail -n 40 "$work/build.log" >&2; exit 1; }
mkdir -p "$(dirname "$binary")"
cp "$work/build/bin/llama-server" "$binary.tmp"
mv "$binary.tmp" "$binary"
say "built in $(( $(date +%s) - start )) s: $binary"
echo "$binary"
