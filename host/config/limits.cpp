#include "limits.hpp"

#include <algorithm>
#include <limits>

namespace provhost::host::config {
namespace {

const core::EngineLimits engine_defaults;
const core::MetadataLimits metadata_defaults;

uint64_t value_of(const Config &config, std::string_view key) {
  if (auto found = config.limits.find(std::string(key)); found != config.limits.end()) return found->second.value;
  const auto &options = limit_options();
  return std::find_if(options.begin(), options.end(), [&](const LimitOption &o) { return o.key == key; })
      ->default_value;
}

uint32_t narrowed(uint64_t value) { return static_cast<uint32_t>(std::min<uint64_t>(value, UINT32_MAX)); }

}  // namespace

const std::vector<LimitOption> &limit_options() {
  static const std::vector<LimitOption> options = {
      {"max_answer_bytes", "--max-answer-bytes", "Longest answer accepted, in bytes of text, streamed or not", true,
       engine_defaults.max_answer_bytes},
      {"max_requests", "--max-requests", "Most HTTP requests a plugin may ask for in one chat (retries not counted)",
       true, engine_defaults.max_requests},
      {"max_request_headers", "--max-request-headers", "Most headers a plugin may put in one request", true,
       engine_defaults.max_request_headers},
      {"max_request_body", "--max-request-body", "Largest request body a plugin may send, in bytes", true,
       engine_defaults.max_request_body},
      {"max_models", "--max-models", "Most models (and aliases) a plugin may list; more rejects it", false,
       metadata_defaults.max_models},
      {"max_model_name", "--max-model-name", "Longest model or alias name a plugin may list, in bytes", false,
       metadata_defaults.max_model_name},
  };
  return options;
}

void add_limit_flags(CLI::App &command, std::map<std::string, uint64_t> &given, bool engine) {
  for (const LimitOption &option : limit_options()) {
    if (option.engine != engine) continue;
    const std::string key(option.key);
    command
        .add_option_function<uint64_t>(
            std::string(option.flag), [&given, key](const uint64_t &value) { given[key] = value; },
            std::string(option.help) + " (default " + std::to_string(option.default_value) + ")")
        ->type_name("N")
        ->check(CLI::PositiveNumber);
  }
}

void apply_limit_flags(const CommandLine &command_line, Config &config) {
  for (const LimitOption &option : limit_options()) {
    auto given = command_line.limits.find(std::string(option.key));
    if (given == command_line.limits.end()) continue;
    config.limits[std::string(option.key)].set(given->second,
                                               Source{Source::Kind::command_line, std::string(option.flag)});
  }
}

std::vector<std::pair<const LimitOption *, Value<std::uint64_t>>> effective_limits(const Config &config) {
  std::vector<std::pair<const LimitOption *, Value<std::uint64_t>>> values;
  for (const LimitOption &option : limit_options()) {
    auto set = config.limits.find(std::string(option.key));
    values.emplace_back(&option, set == config.limits.end() ? Value<std::uint64_t>(option.default_value) : set->second);
  }
  return values;
}

core::EngineLimits engine_limits(const Config &config) {
  core::EngineLimits limits;
  limits.max_answer_bytes = value_of(config, "max_answer_bytes");
  limits.max_requests = narrowed(value_of(config, "max_requests"));
  limits.max_request_headers = narrowed(value_of(config, "max_request_headers"));
  limits.max_request_body = value_of(config, "max_request_body");
  return limits;
}

core::MetadataLimits metadata_limits(const Config &config) {
  core::MetadataLimits limits;
  limits.max_models = value_of(config, "max_models");
  limits.max_model_name = value_of(config, "max_model_name");
  return limits;
}

}  // namespace provhost::host::config
