# Included by CMake right after llama.cpp's project() (CMAKE_PROJECT_llama.cpp_INCLUDE, set in the Makefile):
# llama-cpp-python forces LLAMA_BUILD_COMMON on in the cache; llf never loads llama.cpp's `common` library
# (nor the cpp-httplib it needs), so this shadows the cache entry and skips building them (issue 14).
set(LLAMA_BUILD_COMMON OFF)
