# Included by CMake right after llama.cpp's project() call when scripts/setup.sh builds llama-cpp-python
# (-DCMAKE_PROJECT_llama.cpp_INCLUDE=this file): llama-cpp-python forces llama.cpp's `common` library on, which its
# Python module never loads (it serves llama.cpp's own tools). Turning it off here saves compiling it.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "srag-lsp: llama-cpp-python loads no common library" FORCE)
