# Included by CMake right after llama.cpp's project() call when scripts/setup.sh builds llama-cpp-python
# (-DCMAKE_PROJECT_llama.cpp_INCLUDE=this file). Two savings, neither touches the code that computes:
# - llama-cpp-python forces llama.cpp's `common` library on, which its Python module never loads (it serves
#   llama.cpp's own tools). Turning it off here saves compiling it.
# - The `llama` library (model loading, tokenizer, KV bookkeeping, graph building: two thirds of the compile) is
#   built at -O1 instead of -O3. Its work per token is bookkeeping; the arithmetic runs in ggml, which keeps -O3.
#   Measured here (README, "Design notes"): its compile drops from about 126 to 87 s of CPU, and prompt and
#   generation speed, tokenizing speed and the greedy tokens are the same as with -O3.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "srag-lsp: llama-cpp-python loads no common library" FORCE)

function(srag_llama_bookkeeping_at_o1)
  if(TARGET llama)
    target_compile_options(llama PRIVATE -O1)
  endif()
endfunction()

# Deferred to the end of llama.cpp's top-level CMakeLists.txt, when its `llama` target exists.
cmake_language(DEFER CALL srag_llama_bookkeeping_at_o1)
