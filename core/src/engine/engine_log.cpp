#include "engine_log.hpp"

#include <atomic>
#include <cstdio>
#include <provhost/core/host_services.hpp>
#include <string>

namespace provhost::core::engine {

namespace {
// One switch for the process: transitions are logged from code that has no engine at hand.
std::atomic<bool> debug{false};
}  // namespace

bool debug_enabled() { return debug.load(std::memory_order_relaxed); }
void enable_debug(bool enabled) { debug.store(enabled, std::memory_order_relaxed); }

void log_transition(std::string_view machine, uint64_t id, std::string_view from, std::string_view to) {
  if (!debug_enabled()) return;
  std::string message(machine);
  message += ' ';
  message += std::to_string(id);
  message += ": ";
  message += from;
  message += " -> ";
  message += to;
  std::string line = format_log_line("engine", PH_LOG_DEBUG, message);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace provhost::core::engine
