// config.hpp: every option of provhost in one struct, read once from four sources with this
// precedence: command line > environment > configuration file > defaults. Each value remembers
// where it came from, for `provhost config`. Core gets the result as plain values (EngineOptions,
// HostSettings, the plugin folders) and reads no environment variable itself.
//
// Lists that name places to look (plugin folders) are joined in precedence order instead of
// replaced; maps (upstreams, provider values) are merged key by key, the higher source winning.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/host_services.hpp>
#include <provhost/core/isolation.hpp>
#include <provhost/core/registry.hpp>
#include <provhost/core/upstream.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provhost::host::config {

// Where a value came from.
struct Source {
  enum class Kind { default_value, file, environment, command_line };
  Kind kind = Kind::default_value;
  std::string name;  // "--timeout", "PROVHOST_API_KEY", "config.toml:12"; "" for a default

  // "default", or "from <name>".
  std::string describe() const;
};

template <class T>
struct Value {
  Value() = default;
  Value(T initial) : value(std::move(initial)) {}  // NOLINT(google-explicit-constructor): a default
  Value(T initial, Source from) : value(std::move(initial)), source(std::move(from)) {}

  T value{};
  Source source;

  void set(T new_value, Source new_source) {
    value = std::move(new_value);
    source = std::move(new_source);
  }
};

struct TimeoutSettings {
  Value<double> total{0};  // seconds; 0 = 120 (a plugin's timeout_ms only ever shortens it)
  Value<double> connect{10};
  Value<double> first_byte{60};
  Value<double> idle{30};
};

struct ServeSettings {
  Value<std::string> listen{"127.0.0.1:8080"};
  Value<std::string> api_key;  // "" = no key required
  Value<double> client_timeout{30};
  Value<double> shutdown_timeout{30};
  Value<std::uint64_t> max_body{4 * 1024 * 1024};
  Value<bool> quiet{false};
  Value<bool> drop_unsupported_params{false};
  // Hardening against hostile clients (serve/include/provhost/serve/cross_site.hpp, server.hpp).
  Value<std::uint64_t> max_header_bytes{16 * 1024};
  Value<std::uint64_t> max_connections{1024};
  Value<std::uint64_t> max_stream_backlog{1024 * 1024};
  Value<std::vector<std::string>> cors_origins;   // "*" or origins; replaced, not joined, by a higher source
  Value<std::vector<std::string>> allowed_hosts;  // Host names besides the loopback ones
  // Live plugin folders (core/include/provhost/core/plugin_watch.hpp), in seconds.
  Value<double> plugin_rescan{10};   // the periodic rescan behind inotify; 0 = none
  Value<double> plugin_settle{0.5};  // how long a changed plugin file must stay unchanged
};

// Where plugin code runs (issue 8): in worker processes ("process") or in provhost's own ("none").
struct IsolationSettings {
  Value<std::string> mode{"process"};
  Value<double> scan_timeout{5};     // seconds to load one plugin file for its metadata
  Value<double> plugin_timeout{10};  // seconds a worker may take over one batch of session calls
  Value<std::uint64_t> plugin_memory{std::uint64_t{1} << 30};  // a worker's address space in bytes; 0 = no limit
  Value<std::uint64_t> scan_jobs{4};                           // plugin files scanned at once
  // The scan cache's folder: $XDG_CACHE_HOME/provhost (~/.cache/provhost) by default; "off" = none.
  Value<std::filesystem::path> plugin_cache;
};

// An upstream override: every request of provider `name` goes to `origin`.
struct Upstream {
  std::string name;
  Value<std::string> origin;
};

// A configuration value a plugin asks for with get_config. From the environment only the variable
// is known, so `provider` and `key` stay empty unless the file names the same variable.
struct ProviderValue {
  std::string provider;
  std::string key;
  Value<std::string> value;
};

// A provider the future OpenAICompatible plugin serves under its own name.
struct Instance {
  std::string name;
  std::string plugin;
  std::string base_url;
  std::string api_key_env;  // the variable holding its key: a name, never the key itself
  std::vector<std::string> models;
  Source source;
  std::string api_key;  // read from api_key_env when the configuration is loaded; never written out
};

struct Config {
  std::filesystem::path file;  // the configuration file considered; "" when there is none to look for
  bool file_loaded = false;    // false: the default file does not exist

  std::vector<Value<std::filesystem::path>> plugin_dirs;  // searched in this order, then the default folder
  std::map<std::string, Upstream> upstreams;              // by upstream_variable(name)
  Value<std::string> proxy;                               // "" = libcurl reads HTTPS_PROXY / ALL_PROXY itself
  TimeoutSettings timeouts;
  Value<double> backoff_scale{1.0};
  Value<std::string> log_level{"info"};                  // debug, info, warning, error
  std::map<std::string, ProviderValue> provider_values;  // by core::config_variable(provider, key)
  ServeSettings serve;
  Value<std::vector<std::string>> provider_order;  // providers to try first, in this order
  // Model -> the providers to try for it, in order (file order).
  std::vector<std::pair<std::string, Value<std::vector<std::string>>>> model_fallbacks;
  std::vector<Instance> instances;
  // [limits] and the --max-* flags, by key (limits.hpp); a limit not set here has its default.
  std::map<std::string, Value<std::uint64_t>> limits;
  IsolationSettings isolation;
};

// What the command line said; unset options were not given.
struct CommandLine {
  std::optional<std::filesystem::path> config_file;
  std::vector<std::filesystem::path> plugin_dirs;
  std::vector<std::string> upstreams;  // NAME=URL, as typed
  std::optional<std::string> proxy;
  std::optional<double> timeout, connect_timeout, first_byte_timeout, idle_timeout;
  std::optional<std::string> listen, api_key;
  std::optional<double> client_timeout, shutdown_timeout;
  std::optional<std::uint64_t> max_body;
  bool quiet = false;
  bool drop_unsupported_params = false;
  std::map<std::string, std::uint64_t> limits;  // --max-* flags, by [limits] key (limits.hpp)
  std::optional<std::string> isolation;
  std::optional<double> scan_timeout, plugin_timeout;
  std::optional<std::string> plugin_memory;  // BYTES, or with K, M or G
  std::optional<std::uint64_t> scan_jobs;
  std::optional<std::string> plugin_cache;
  std::optional<std::uint64_t> max_header_bytes, max_connections, max_stream_backlog;
  std::vector<std::string> cors_origins, allowed_hosts;
  std::optional<double> plugin_rescan, plugin_settle;
};

using Environment = std::map<std::string, std::string>;

// A configuration that cannot be used. what() is the whole line after "provhost: ", e.g.
// "error: config.toml:3:1: unknown key \"timout\"" or "--upstream Koala: invalid upstream ...".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// This process's environment.
Environment process_environment();

// $XDG_CONFIG_HOME/provhost/config.toml, else ~/.config/provhost/config.toml; "" without either.
std::filesystem::path default_config_file(const Environment &environment);

// How an upstream override given on the command line or in the file is checked and made an origin:
// core::parse_origin and core::parse_upstream_option, which are libcurl's URL parser. The provhost
// executable links no libcurl (host/engine_module.hpp): it passes ones that load the engine module
// for that, only when there is such an override to check.
struct UpstreamParsers {
  core::Result<std::string> (*origin)(std::string_view url) = nullptr;
  core::Result<std::pair<std::string, std::string>> (*option)(std::string_view spec) = nullptr;
};

// core::upstream_variable, the key of Config::upstreams, without libcurl's side of core.
std::string upstream_variable(std::string_view provider);

// Reads the configuration file `file` into `config`, over what it holds. Throws Error.
void read_config_file(const std::filesystem::path &file, Config &config, const UpstreamParsers &parsers);

// The effective configuration. The file is --config's (it must exist) or the default one (it may
// not). Throws Error.
Config load(const CommandLine &command_line, const Environment &environment, const UpstreamParsers &parsers);

// core's own parsers, and load() with them: for code that links provhost_core (libcurl) anyway, as the
// engine module and the tests do. Inline, so that the executable, which uses neither, links no libcurl.
constexpr UpstreamParsers core_upstream_parsers() { return {&core::parse_origin, &core::parse_upstream_option}; }
inline Config load(const CommandLine &command_line, const Environment &environment) {
  return load(command_line, environment, core_upstream_parsers());
}

// Whether a value stored under `name` is a secret, shown masked: api keys, and provider values
// whose key says key, token, secret or password.
bool is_secret(std::string_view name);

// What core receives.
core::EngineOptions engine_options(const Config &config);
std::shared_ptr<const core::HostSettings> host_settings(const Config &config);
std::vector<std::filesystem::path> plugin_folders(const Config &config);  // the default folder last
core::ResolutionPreferences resolution_preferences(const Config &config);
// The isolation limits; nullopt for --isolation none (plugins in this process).
std::optional<core::IsolationOptions> isolation_options(const Config &config);

// $XDG_CACHE_HOME/provhost, else ~/.cache/provhost; "" without either.
std::filesystem::path default_cache_folder(const Environment &environment);

// `provhost config`'s output: TOML-like text with each value's source, or JSON; secrets masked.
std::string to_text(const Config &config);
std::string to_json(const Config &config);

}  // namespace provhost::host::config
