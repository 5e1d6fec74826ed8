// engine_log.hpp: the engine's debug lines (log level debug: PROVHOST_LOG=debug or log_level = "debug"), one per state
// transition, as curl's multistate() logs its own.
#pragma once

#include <cstdint>
#include <string_view>

namespace provhost::core::engine {

// Whether transitions are logged: EngineOptions::log_transitions of the newest engine.
bool debug_enabled();
void enable_debug(bool enabled);

// "provhost: [engine] debug: chat 3: opening -> requesting"
void log_transition(std::string_view machine, uint64_t id, std::string_view from, std::string_view to);

}  // namespace provhost::core::engine
