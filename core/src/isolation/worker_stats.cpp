#include <mutex>
#include <provhost/core/worker_stats.hpp>

namespace provhost::core {
namespace {

std::mutex counts_mutex;
WorkerCounts counts;

}  // namespace

const char *to_string(WorkerCrash cause) {
  switch (cause) {
    case WorkerCrash::signal:
      return "signal";
    case WorkerCrash::memory:
      return "memory";
    case WorkerCrash::hang:
      return "hang";
    case WorkerCrash::exit:
      return "exit";
    case WorkerCrash::sandbox:
      return "sandbox";
    case WorkerCrash::protocol:
      return "protocol";
  }
  return "unknown";
}

WorkerCounts worker_counts() {
  std::lock_guard lock(counts_mutex);
  return counts;
}

void count_worker_crash(std::string_view provider, WorkerCrash cause) {
  std::lock_guard lock(counts_mutex);
  ++counts.crashes[{std::string(provider), to_string(cause)}];
}

void count_worker_restart(std::string_view provider) {
  std::lock_guard lock(counts_mutex);
  ++counts.restarts[std::string(provider)];
}

}  // namespace provhost::core
