// worker_stats.hpp: how often the plugin workers of this process (--isolation process) crashed, and why, and were
// started again after a crash, by provider: for serve's /metrics. The process backend counts where it finds out why
// a worker ended; anyone may read. Process-wide, since a worker's end is news whichever engine ran it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace provhost::core {

// Why a worker ended against the host's will: a signal (SIGSEGV, ...), over --plugin-memory, no answer within
// --plugin-timeout, exited on its own, a system call the sandbox forbids, or an answer the host could not read.
enum class WorkerCrash { signal, memory, hang, exit, sandbox, protocol };
const char *to_string(WorkerCrash cause);

struct WorkerCounts {
  std::map<std::pair<std::string, std::string>, uint64_t> crashes;  // (provider, cause) -> crashes
  std::map<std::string, uint64_t> restarts;                         // provider -> workers started after a crash
};

// The counts so far; thread-safe.
WorkerCounts worker_counts();

// For the process backend; thread-safe.
void count_worker_crash(std::string_view provider, WorkerCrash cause);
void count_worker_restart(std::string_view provider);

}  // namespace provhost::core
