// host_services.hpp: the ph_host table each plugin gets (logging, clock, randomness, configuration,
// digests). Every plugin has its own table, so that its log lines and configuration keys carry the
// provider's name. What the table answers is decided once, by the host's configuration
// (HostSettings); nothing here reads the environment.
#pragma once

#include <provhost/provhost.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace provhost::core {

// Caps on a provider's metadata, checked before it is copied: a plugin that goes past one is
// rejected with the reason, like any other broken metadata.
struct MetadataLimits {
  size_t max_models = 10'000;     // models, and aliases, of one provider (--max-models)
  size_t max_provider_name = 64;  // bytes of the provider's name
  size_t max_model_name = 256;    // bytes of a model's or an alias's name (--max-model-name)
};

// The settings every plugin's table shares; immutable once plugins are loaded.
struct HostSettings {
  MetadataLimits metadata;
  // get_config's answers, by config_variable(provider, key): "PROVHOST_KOALA_API_KEY" -> value.
  std::map<std::string, std::string, std::less<>> provider_config;
  // Plugins' log messages below this level are dropped.
  ph_log_level log_level = PH_LOG_INFO;
};

class HostServices {
 public:
  // `provider_name` until the plugin says its own name: the file's, e.g. "provhost-ylokh". Null
  // settings are the defaults: no configuration values, messages from info up.
  explicit HostServices(std::string provider_name, std::shared_ptr<const HostSettings> settings = nullptr);
  HostServices(const HostServices &) = delete;
  HostServices &operator=(const HostServices &) = delete;

  // Valid as long as this object.
  const ph_host *table() const { return &table_; }

  // Called once the plugin's metadata is known (before any session runs).
  void set_provider_name(std::string name) { provider_name_ = std::move(name); }
  const std::string &provider_name() const { return provider_name_; }
  const HostSettings &settings() const { return *settings_; }

 private:
  static void log(const ph_host *host, ph_log_level level, ph_str message);
  static int64_t now_unix_ms(const ph_host *host);
  static void random_bytes(const ph_host *host, void *buffer, size_t size);
  static ph_str get_config(const ph_host *host, ph_str key);
  static size_t digest(const ph_host *host, ph_str algorithm, ph_str data, uint8_t *out);

  ph_host table_{};
  std::string provider_name_;
  // Held, not copied, so that get_config's answers stay valid until the plugin is unloaded.
  std::shared_ptr<const HostSettings> settings_;
};

// PROVHOST_<PROVIDER>_<KEY>, upper-cased, with anything but letters and digits as '_'.
std::string config_variable(std::string_view provider, std::string_view key);

// Whether a plugin's message at `level` is shown when the host shows `threshold` and above.
bool log_level_enabled(ph_log_level level, ph_log_level threshold);

// "provhost: [Ylokh] warning: <message>\n", the message flattened to one line.
std::string format_log_line(std::string_view provider, ph_log_level level, std::string_view message);

// The raw digest of `data` ("md5", "sha1" or "sha256") into `out`; its length, 0 for another
// algorithm.
size_t compute_digest(std::string_view algorithm, std::string_view data, uint8_t *out);

}  // namespace provhost::core
