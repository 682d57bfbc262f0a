# Sourced by scripts/setup.sh and scripts/build_llama_server.sh: one place for the llama.cpp version, the CPU flags
# every build here uses, and the cache folder builds are kept in.
#  - LLAMA_VERSION: llama-cpp-python's version; its sdist vendors the llama.cpp tree (server included).
#  - llama_cpu_flags: CMake flags for this CPU. Never GGML_NATIVE: the native build enables AMX on these Xeons and
#    crashes on the first evaluation; AVX-512 flags only where /proc/cpuinfo has them. Sets $flags and $key.
#  - llama_sdist_file / llama_fetch_sdist: the sdist's place in the cache, and downloading it there once.
#  - llama_choose_source: where llama.cpp comes from here, "source" or "prebuilt" (sets $llama_source).
#  - llama_prebuilt_file / llama_fetch_prebuilt: xllamacpp's wheel (llama.cpp prebuilt for AVX2) in the cache, sha256
#    checked; scripts/lib/llama_prebuilt.py puts its library under llama-cpp-python's bindings.
LLAMA_VERSION=0.3.36
XLLAMACPP_VERSION=2026.10.11549
XLLAMACPP_WHEEL=xllamacpp-$XLLAMACPP_VERSION-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
XLLAMACPP_SHA256=c54e7d13520ecc989c63dc99d55de3065e2f343a91f43f053d16b5e62077c261
SRAG_BUILD_CACHE="${SRAG_BUILD_CACHE:-$HOME/.cache/srag-lsp}"

llama_cpu_flags() {
  flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
  key=avx2
  if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    flags="$flags -DGGML_AVX512=ON"; key=avx512
    grep -qw avx512_vbmi /proc/cpuinfo && { flags="$flags -DGGML_AVX512_VBMI=ON"; key="${key}vbmi"; }
    grep -qw avx512_vnni /proc/cpuinfo && { flags="$flags -DGGML_AVX512_VNNI=ON"; key="${key}vnni"; }
    grep -qw avx512_bf16 /proc/cpuinfo && { flags="$flags -DGGML_AVX512_BF16=ON"; key="${key}bf16"; }
  fi
  return 0
}

# A C and C++ compiler and CMake, or one message that names the packages to install.
llama_require_toolchain() {
  local missing=()
  command -v cc >/dev/null 2>&1 || missing+=(gcc)
  command -v c++ >/dev/null 2>&1 || missing+=(g++)
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: building llama.cpp needs a C/C++ compiler and CMake; missing: ${missing[*]}." >&2
    echo "setup: install them (Debian/Ubuntu: sudo apt-get install build-essential cmake) and run this again." >&2
    return 1
  fi
}

# The CMake arguments of the lean build: no multimodal library, and llama_lean.cmake (no `common` library, the
# `llama` library at -O1). llama_source_wheel.sh builds with them; tests/test_scripts.py configures with them.
llama_lean_args() {
  echo "-DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/llama_lean.cmake"
}

llama_sdist_file() {
  echo "$SRAG_BUILD_CACHE/sdist/llama_cpp_python-$LLAMA_VERSION.tar.gz"
}

# Download the sdist into the cache once (pip's output on stdout and stderr).
llama_fetch_sdist() {
  local file
  file=$(llama_sdist_file)
  [ -s "$file" ] && return 0
  mkdir -p "$(dirname "$file")"
  "${PYTHON_FOR_PIP:-python3}" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$(dirname "$file")" "llama-cpp-python==$LLAMA_VERSION"
}

# Where llama.cpp comes from (sets $llama_source; a note on stderr when the choice costs speed):
#  - SRAG_LLAMA=source or SRAG_LLAMA=prebuilt chooses;
#  - otherwise a CPU with AVX-512 and a compiler builds from source (its prompts evaluate about 1.4x faster than
#    with the prebuilt AVX2 library), and every other CPU takes the prebuilt library, which evaluates prompts as fast
#    as an AVX2 build from source and needs no compiler (README, "Design notes": measured on the same CPU).
llama_choose_source() {
  case "${SRAG_LLAMA:-auto}" in
    source|prebuilt) llama_source=$SRAG_LLAMA ;;
    auto)
      if ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
        llama_source=source  # the prebuilt library needs AVX2
      elif grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
        if llama_require_toolchain 2>/dev/null; then
          llama_source=source
        else
          llama_source=prebuilt
          echo "setup: no C/C++ compiler or CMake: using llama.cpp prebuilt for AVX2. This CPU has AVX-512; for its" \
            "faster build install build-essential and cmake and run SRAG_LLAMA=source scripts/setup.sh" >&2
        fi
      else
        llama_source=prebuilt
      fi ;;
    *) echo "setup: SRAG_LLAMA is 'source' or 'prebuilt', not '$SRAG_LLAMA'" >&2; return 1 ;;
  esac
}

llama_prebuilt_file() {
  echo "$SRAG_BUILD_CACHE/prebuilt/$XLLAMACPP_WHEEL"
}

# Download xllamacpp's wheel into the cache once, and check its sha256.
llama_fetch_prebuilt() {
  local file
  file=$(llama_prebuilt_file)
  if [ ! -s "$file" ]; then
    mkdir -p "$(dirname "$file")"
    "${PYTHON_FOR_PIP:-python3}" -m pip download --disable-pip-version-check --no-deps --only-binary :all: \
      --platform manylinux2014_x86_64 -d "$(dirname "$file")" "xllamacpp==$XLLAMACPP_VERSION"
  fi
  if ! echo "$XLLAMACPP_SHA256  $file" | sha256sum -c --quiet -; then
    echo "setup: $file is not the pinned xllamacpp wheel (sha256); it was removed, run set-up again" >&2
    rm -f "$file"
    return 1
  fi
}
