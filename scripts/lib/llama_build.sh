# Sourced by scripts/setup.sh and scripts/build_llama_server.sh: one place for the llama.cpp version, the CPU flags
# every build here uses, and the cache folder builds are kept in.
#  - LLAMA_VERSION: llama-cpp-python's version; its sdist vendors the llama.cpp tree (server included).
#  - llama_cpu_flags: CMake flags for this CPU. Never GGML_NATIVE: the native build enables AMX on these Xeons and
#    crashes on the first evaluation; AVX-512 flags only where /proc/cpuinfo has them. Sets $flags and $key.
#  - llama_sdist_file / llama_fetch_sdist: the sdist's place in the cache, and downloading it there once.
LLAMA_VERSION=0.3.36
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
