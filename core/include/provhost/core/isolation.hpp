// isolation.hpp: running plugin code in worker processes instead of the host's own (issue 8).
// Loading a plugin for its metadata (scanning) and running its sessions both happen in a child,
// `provhost-plugin-worker`, so that a plugin that crashes, hangs, exits or eats memory costs its
// own chats and never the host. These are the limits; core takes them as values from the host's
// configuration (--isolation, --scan-timeout, --plugin-timeout, --plugin-memory, --plugin-cache).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>

// A sanitizer's runtime (a fuzzing or sanitizer build) reserves terabytes of address space and
// replaces malloc itself: such a worker sets no address-space limit and keeps the C library's
// allocator as it is, so --plugin-memory is not enforced there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PROVHOST_SANITIZED_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define PROVHOST_SANITIZED_BUILD 1
#endif
#endif

namespace provhost::core {

struct IsolationOptions {
  std::filesystem::path worker;                         // the worker executable; "" = default_worker_path()
  std::chrono::milliseconds scan_timeout{5'000};        // loading one plugin file for its metadata
  unsigned scan_jobs = 4;                               // files scanned at once, each in its own child
  std::filesystem::path cache_dir;                      // where scan results are kept; "" = no cache
  std::chrono::milliseconds call_timeout{10'000};       // one batch of session calls in a worker
  std::uint64_t memory_limit = std::uint64_t{1} << 30;  // a worker's address space in bytes; 0 = no limit
  bool sandbox = true;                                  // seccomp in session workers
};

// provhost-plugin-worker next to the running executable.
std::filesystem::path default_worker_path();

// The worker's main(): `provhost-plugin-worker scan|session FILE [--memory BYTES] [--no-sandbox]
// [--log-level N] [--instance NAME] [--body-region BYTES]`, or `validate FILE --check NAME [--memory BYTES]`
// (validate.hpp), talking to the host on file descriptor 3.
int run_plugin_worker(int argc, char **argv);

// In a worker: an allocation failed, so the plugin went past the memory limit. Tells the host and
// ends the process at once (called by the worker's allocator and operator new).
[[noreturn]] void worker_out_of_memory();

}  // namespace provhost::core
