#include "engine_log.hpp"

#include <cstdio>
#include <provhost/core/host_services.hpp>
#include <string>

namespace provhost::core::engine {

bool debug_enabled() { return log_level_enabled(PH_LOG_DEBUG); }

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
