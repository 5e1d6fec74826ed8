// provhost-plugin-worker: the process a plugin runs in (see core/include/provhost/core/isolation.hpp).
// provhost starts it; it is not meant to be run by hand.
//
// The allocation functions are replaced here, in the worker only, so that an allocation the memory
// limit (RLIMIT_AS) refuses ends the worker with "went over its memory limit" instead of handing
// a C plugin a NULL it will crash on, which would read as a mere SIGSEGV.
#include <cstddef>
#include <provhost/core/isolation.hpp>

#ifndef PROVHOST_SANITIZED_BUILD
extern "C" {
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *pointer, size_t size);

void *malloc(size_t size) {
  void *memory = __libc_malloc(size);
  if (!memory && size) provhost::core::worker_out_of_memory();
  return memory;
}

void *calloc(size_t count, size_t size) {
  void *memory = __libc_calloc(count, size);
  if (!memory && count && size) provhost::core::worker_out_of_memory();
  return memory;
}

void *realloc(void *pointer, size_t size) {
  void *memory = __libc_realloc(pointer, size);
  if (!memory && size) provhost::core::worker_out_of_memory();
  return memory;
}
}
#endif

int main(int argc, char **argv) { return provhost::core::run_plugin_worker(argc, argv); }
