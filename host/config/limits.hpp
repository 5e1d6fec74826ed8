// limits.hpp: the caps on what plugins may ask of the host and hand it, as options: one table
// gives each its [limits] key, its command-line flag, its default (core's) and its help, and the
// configuration's other parts (command line, file, output, what core receives) go through it.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <provhost/core/chat.hpp>
#include <provhost/core/host_services.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"

namespace provhost::host::config {

// One limit: its key in the file's [limits] table and the flag that sets it.
struct LimitOption {
  std::string_view key;   // "max_answer_bytes"
  std::string_view flag;  // "--max-answer-bytes"
  std::string_view help;
  bool engine;  // an engine option (chat, serve); else a global one (it applies when plugins load)
  uint64_t default_value;
};

// Every limit, in the order `provhost config` shows them.
const std::vector<LimitOption> &limit_options();

// Adds the engine's limits (chat, serve) or the loading limits (every command) as flags; a value
// given lands in `given[key]`.
void add_limit_flags(CLI::App &command, std::map<std::string, uint64_t> &given, bool engine);

// The limits the command line gave, over what `config` holds.
void apply_limit_flags(const CommandLine &command_line, Config &config);

// Every limit's value and where it came from (the default when nothing set it), in table order.
std::vector<std::pair<const LimitOption *, Value<std::uint64_t>>> effective_limits(const Config &config);

// The limits as core takes them.
core::EngineLimits engine_limits(const Config &config);
core::MetadataLimits metadata_limits(const Config &config);

}  // namespace provhost::host::config
