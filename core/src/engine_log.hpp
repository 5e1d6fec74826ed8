// engine_log.hpp: the engine's debug lines (PROVHOST_LOG=debug), one per state transition, as
// curl's multistate() logs its own.
#pragma once

#include <cstdint>
#include <string_view>

namespace provhost::core::engine {

bool debug_enabled();

// "provhost: [engine] debug: chat 3: opening -> requesting"
void log_transition(std::string_view machine, uint64_t id, std::string_view from, std::string_view to);

}  // namespace provhost::core::engine
