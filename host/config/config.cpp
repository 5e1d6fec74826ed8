// Gathering the configuration: defaults, then the file, then the environment, then the command
// line, each overriding the one before; and handing the result to core as values.
#include "config.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <provhost/core/environment_name.hpp>
#include <provhost/core/plugin_loader.hpp>
#include <provhost/core/registry.hpp>
#include <provhost/core/retry.hpp>
#include <string_view>

#include "instances.hpp"
#include "limits.hpp"
#include "validation.hpp"

extern char **environ;  // POSIX: the process's environment, read once here

namespace provhost::host::config {
namespace {

constexpr std::string_view upstream_prefix = "PROVHOST_UPSTREAM_";

// The host's own variables; every other PROVHOST_* variable is a provider value.
bool is_host_variable(std::string_view name) {
  return name == "PROVHOST_PLUGIN_PATH" || name == "PROVHOST_LOG" || name == "PROVHOST_BACKOFF_SCALE" ||
         name == "PROVHOST_API_KEY" || name == "PROVHOST_ISOLATION" || name == "PROVHOST_PLUGIN_CACHE" ||
         name == "PROVHOST_INSTANCES" || name.rfind(upstream_prefix, 0) == 0;
}

Source from_environment(const std::string &variable) { return {Source::Kind::environment, variable}; }
Source from_command_line(const std::string &option) { return {Source::Kind::command_line, option}; }

// A variable's value, or nullopt when it is unset or empty (an empty variable counts as unset, as
// it always has).
std::optional<std::string> variable(const Environment &environment, const std::string &name) {
  auto found = environment.find(name);
  if (found == environment.end() || found->second.empty()) return std::nullopt;
  return found->second;
}

void apply_environment(const Environment &environment, Config &config,
                       std::vector<Value<std::filesystem::path>> &plugin_dirs) {
  if (auto path = variable(environment, "PROVHOST_PLUGIN_PATH")) {
    for (auto &folder : core::split_path_list(*path))
      plugin_dirs.push_back({folder, from_environment("PROVHOST_PLUGIN_PATH")});
  }
  if (auto text = variable(environment, "PROVHOST_BACKOFF_SCALE")) {
    core::Result<double> scale = core::parse_backoff_scale(*text, "PROVHOST_BACKOFF_SCALE");
    if (!scale) throw Error(scale.error().detail);
    config.backoff_scale.set(*scale, from_environment("PROVHOST_BACKOFF_SCALE"));
  }
  if (auto level = variable(environment, "PROVHOST_LOG")) {
    if (!log_level_from_name(*level))
      throw Error("PROVHOST_LOG must be debug, info, warning or error, got \"" + *level + "\"");
    config.log_level.set(*level, from_environment("PROVHOST_LOG"));
  }
  if (auto key = variable(environment, "PROVHOST_API_KEY"))
    config.serve.api_key.set(*key, from_environment("PROVHOST_API_KEY"));
  if (auto mode = variable(environment, "PROVHOST_ISOLATION")) {
    if (auto error = check_isolation(*mode)) throw Error("PROVHOST_ISOLATION: " + *error);
    config.isolation.mode.set(*mode, from_environment("PROVHOST_ISOLATION"));
  }
  if (auto folder = variable(environment, "PROVHOST_PLUGIN_CACHE"))
    config.isolation.plugin_cache.set(*folder, from_environment("PROVHOST_PLUGIN_CACHE"));

  for (const auto &[name, value] : environment) {
    if (value.empty() || name.rfind("PROVHOST_", 0) != 0) continue;
    if (name.rfind(upstream_prefix, 0) == 0) {
      std::string provider = name.substr(upstream_prefix.size());
      // Only the spelling upstream_variable produces, the one that was ever looked up. The value is
      // checked when a chat uses it, so that one bad variable does not stop every command.
      if (provider.empty() || upstream_variable(provider) != name) continue;
      config.upstreams[name] = {provider, {value, from_environment(name)}};
    } else if (!is_host_variable(name)) {
      ProviderValue &entry = config.provider_values[name];
      entry.value.set(value, from_environment(name));
    }
  }
}

void apply_command_line(const CommandLine &command_line, Config &config, const UpstreamParsers &parsers) {
  for (const std::string &spec : command_line.upstreams) {
    auto upstream = parsers.option(spec);
    if (!upstream) throw Error(upstream.error().detail);
    config.upstreams[upstream_variable(upstream->first)] = {upstream->first,
                                                            {upstream->second, from_command_line("--upstream")}};
  }
  if (command_line.proxy) {
    if (auto error = check_proxy(*command_line.proxy)) throw Error(*error);
    config.proxy.set(*command_line.proxy, from_command_line("--proxy"));
  }
  auto set = [](auto &target, const auto &given, const char *option) {
    if (given) target.set(*given, from_command_line(option));
  };
  set(config.timeouts.total, command_line.timeout, "--timeout");
  set(config.timeouts.connect, command_line.connect_timeout, "--connect-timeout");
  set(config.timeouts.first_byte, command_line.first_byte_timeout, "--first-byte-timeout");
  set(config.timeouts.idle, command_line.idle_timeout, "--idle-timeout");
  set(config.serve.listen, command_line.listen, "--listen");
  set(config.serve.api_key, command_line.api_key, "--api-key");
  set(config.serve.client_timeout, command_line.client_timeout, "--client-timeout");
  set(config.serve.shutdown_timeout, command_line.shutdown_timeout, "--shutdown-timeout");
  set(config.serve.plugin_rescan, command_line.plugin_rescan, "--plugin-rescan");
  set(config.serve.plugin_settle, command_line.plugin_settle, "--plugin-settle");
  set(config.serve.max_body, command_line.max_body, "--max-body");
  if (command_line.quiet) config.serve.quiet.set(true, from_command_line("--quiet"));
  if (command_line.drop_unsupported_params) {
    config.serve.drop_unsupported_params.set(true, from_command_line("--drop-unsupported-params"));
  }
  apply_limit_flags(command_line, config);
  IsolationSettings &isolation = config.isolation;
  set(isolation.mode, command_line.isolation, "--isolation");
  set(isolation.scan_timeout, command_line.scan_timeout, "--scan-timeout");
  set(isolation.plugin_timeout, command_line.plugin_timeout, "--plugin-timeout");
  set(isolation.scan_jobs, command_line.scan_jobs, "--scan-jobs");
  if (command_line.plugin_memory)
    isolation.plugin_memory.set(parse_bytes(*command_line.plugin_memory).value_or(0),
                                from_command_line("--plugin-memory"));
  if (command_line.plugin_cache)
    isolation.plugin_cache.set(*command_line.plugin_cache, from_command_line("--plugin-cache"));
  set(config.serve.max_header_bytes, command_line.max_header_bytes, "--max-header-bytes");
  set(config.serve.max_connections, command_line.max_connections, "--max-connections");
  set(config.serve.max_stream_backlog, command_line.max_stream_backlog, "--max-stream-backlog");
  auto set_list = [](auto &target, const std::vector<std::string> &given, const char *option, auto check) {
    if (given.empty()) return;
    for (const auto &item : given)
      if (auto error = check(item)) throw Error(std::string(option) + ": " + *error);
    target.set(given, from_command_line(option));
  };
  set_list(config.serve.cors_origins, command_line.cors_origins, "--cors-origin", check_cors_origin);
  set_list(config.serve.allowed_hosts, command_line.allowed_hosts, "--allowed-host", check_allowed_host);
}

// Seconds as the engine's milliseconds; 0 keeps the engine's default, as it always has on the
// command line.
uint32_t milliseconds_or(double seconds, uint32_t fallback) {
  if (seconds <= 0) return fallback;
  return static_cast<uint32_t>(std::clamp(std::llround(seconds * 1000), 1LL, static_cast<long long>(UINT32_MAX)));
}

}  // namespace

std::string Source::describe() const { return kind == Kind::default_value ? "default" : "from " + name; }

Environment process_environment() {
  Environment environment;
  for (char **entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    size_t equals = text.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    environment.emplace(text.substr(0, equals), text.substr(equals + 1));
  }
  return environment;
}

std::filesystem::path default_config_file(const Environment &environment) {
  // The XDG rule: an unset, empty or relative XDG_CONFIG_HOME means ~/.config.
  auto xdg = variable(environment, "XDG_CONFIG_HOME");
  if (xdg && std::filesystem::path(*xdg).is_absolute()) return std::filesystem::path(*xdg) / "provhost" / "config.toml";
  if (auto home = variable(environment, "HOME"))
    return std::filesystem::path(*home) / ".config" / "provhost" / "config.toml";
  return {};
}

std::string upstream_variable(std::string_view provider) {
  // As core::upstream_variable (upstream.cpp) spells it; a test holds the two together.
  return core::environment_name({"UPSTREAM", provider});
}

Config load(const CommandLine &command_line, const Environment &environment, const UpstreamParsers &parsers) {
  Config config;
  if (command_line.config_file) {
    config.file = *command_line.config_file;
    read_config_file(config.file, config, parsers);
    config.file_loaded = true;
  } else {
    config.file = default_config_file(environment);
    std::error_code ignored;
    if (!config.file.empty() && std::filesystem::exists(config.file, ignored)) {
      read_config_file(config.file, config, parsers);
      config.file_loaded = true;
    }
  }

  // Folders from each source, joined with the command line's first.
  std::vector<Value<std::filesystem::path>> from_file = std::move(config.plugin_dirs), from_variables;
  apply_environment(environment, config, from_variables);
  resolve_instances(environment, config);
  apply_command_line(command_line, config, parsers);
  config.plugin_dirs.clear();
  for (const auto &folder : command_line.plugin_dirs)
    config.plugin_dirs.push_back({folder, from_command_line("--plugin-dir")});
  config.plugin_dirs.insert(config.plugin_dirs.end(), from_variables.begin(), from_variables.end());
  config.plugin_dirs.insert(config.plugin_dirs.end(), from_file.begin(), from_file.end());
  if (config.isolation.plugin_cache.source.kind == Source::Kind::default_value)
    config.isolation.plugin_cache.value = default_cache_folder(environment);
  return config;
}

std::filesystem::path default_cache_folder(const Environment &environment) {
  // The XDG rule, as for the configuration file: an unset, empty or relative XDG_CACHE_HOME means ~/.cache.
  auto xdg = variable(environment, "XDG_CACHE_HOME");
  if (xdg && std::filesystem::path(*xdg).is_absolute()) return std::filesystem::path(*xdg) / "provhost";
  if (auto home = variable(environment, "HOME")) return std::filesystem::path(*home) / ".cache" / "provhost";
  return {};
}

std::optional<core::IsolationOptions> isolation_options(const Config &config) {
  const IsolationSettings &settings = config.isolation;
  if (settings.mode.value == "none") return std::nullopt;
  auto milliseconds = [](double seconds) {
    return std::chrono::milliseconds(std::clamp(std::llround(seconds * 1000), 1LL, static_cast<long long>(INT32_MAX)));
  };
  core::IsolationOptions options;
  options.scan_timeout = milliseconds(settings.scan_timeout.value);
  options.call_timeout = milliseconds(settings.plugin_timeout.value);
  options.memory_limit = settings.plugin_memory.value;
  options.scan_jobs = static_cast<unsigned>(std::clamp<std::uint64_t>(settings.scan_jobs.value, 1, 256));
  if (settings.plugin_cache.value != "off") options.cache_dir = settings.plugin_cache.value;
  return options;
}

bool is_secret(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char *word : {"key", "token", "secret", "password"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

core::EngineOptions engine_options(const Config &config) {
  core::EngineOptions engine;
  core::Timeouts &timeouts = engine.timeouts;
  timeouts.total_ms = milliseconds_or(config.timeouts.total.value, 0);
  timeouts.connect_ms = milliseconds_or(config.timeouts.connect.value, timeouts.connect_ms);
  timeouts.first_byte_ms = milliseconds_or(config.timeouts.first_byte.value, timeouts.first_byte_ms);
  timeouts.idle_ms = milliseconds_or(config.timeouts.idle.value, timeouts.idle_ms);
  engine.proxy = config.proxy.value;
  for (const auto &[variable, upstream] : config.upstreams) engine.upstreams[upstream.name] = upstream.origin.value;
  engine.backoff_scale = config.backoff_scale.value;
  engine.log_transitions = log_level_from_name(config.log_level.value) == PH_LOG_DEBUG;
  engine.limits = engine_limits(config);
  return engine;
}

std::shared_ptr<const core::HostSettings> host_settings(const Config &config) {
  auto settings = std::make_shared<core::HostSettings>();
  for (const auto &[variable, entry] : config.provider_values) settings->provider_config[variable] = entry.value.value;
  settings->log_level = log_level_from_name(config.log_level.value).value_or(PH_LOG_INFO);
  settings->metadata = metadata_limits(config);
  add_instance_values(config, *settings);
  return settings;
}

std::vector<std::filesystem::path> plugin_folders(const Config &config) {
  std::vector<std::filesystem::path> folders;
  for (const auto &folder : config.plugin_dirs) folders.push_back(folder.value);
  return core::plugin_search_path(folders);
}

core::ResolutionPreferences resolution_preferences(const Config &config) {
  core::ResolutionPreferences preferences;
  preferences.provider_order = config.provider_order.value;
  for (const auto &[model, providers] : config.model_fallbacks) preferences.model_providers[model] = providers.value;
  return preferences;
}

}  // namespace provhost::host::config
