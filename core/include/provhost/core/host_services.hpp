// host_services.hpp: the ph_host table each plugin gets (logging, clock, randomness, configuration,
// digests). Every plugin has its own table, so that its log lines and configuration keys carry the
// provider's name.
#pragma once

#include <provhost/provhost.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace provhost::core {

class HostServices {
 public:
  // `provider_name` until the plugin says its own name: the file's, e.g. "provhost-ylokh".
  explicit HostServices(std::string provider_name);
  HostServices(const HostServices &) = delete;
  HostServices &operator=(const HostServices &) = delete;

  // Valid as long as this object.
  const ph_host *table() const { return &table_; }

  // Called once the plugin's metadata is known (before any session runs).
  void set_provider_name(std::string name) { provider_name_ = std::move(name); }
  const std::string &provider_name() const { return provider_name_; }

 private:
  static void log(const ph_host *host, ph_log_level level, ph_str message);
  static int64_t now_unix_ms(const ph_host *host);
  static void random_bytes(const ph_host *host, void *buffer, size_t size);
  static ph_str get_config(const ph_host *host, ph_str key);
  static size_t digest(const ph_host *host, ph_str algorithm, ph_str data, uint8_t *out);

  ph_host table_{};
  std::string provider_name_;
  std::mutex config_mutex_;
  // Looked up once per key: get_config's answers must stay valid until the plugin is unloaded.
  std::map<std::string, std::unique_ptr<std::string>, std::less<>> config_;
};

// PROVHOST_<PROVIDER>_<KEY>, upper-cased, with anything but letters and digits as '_'.
std::string config_variable(std::string_view provider, std::string_view key);

// Whether a plugin's message at `level` is shown (debug only with PROVHOST_LOG=debug).
bool log_level_enabled(ph_log_level level);

// "provhost: [Ylokh] warning: <message>\n", the message flattened to one line.
std::string format_log_line(std::string_view provider, ph_log_level level, std::string_view message);

// The raw digest of `data` ("md5", "sha1" or "sha256") into `out`; its length, 0 for another
// algorithm.
size_t compute_digest(std::string_view algorithm, std::string_view data, uint8_t *out);

}  // namespace provhost::core
