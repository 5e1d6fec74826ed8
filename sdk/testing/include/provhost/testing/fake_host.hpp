// fake_host.hpp: the host services (ph_host) a plugin under test sees: a configuration map, a clock
// and randomness that the test controls (the same seed gives the same bytes), the digests the real
// host offers, and the log lines the plugin wrote. Safe to use from several threads, as the ABI
// promises plugins.
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::testing {

struct LogLine {
  ph_log_level level = PH_LOG_INFO;
  std::string message;
};

class FakeHost {
 public:
  explicit FakeHost(uint64_t seed = 1, int64_t now_unix_ms = 1'700'000'000'123);
  FakeHost(const FakeHost &) = delete;
  FakeHost &operator=(const FakeHost &) = delete;

  // The table to hand a plugin's entry; it lives as long as this FakeHost.
  const ph_host *table() const { return &table_; }

  // get_config answers `value` for `key` (the key as the plugin asks for it, e.g. "api_key").
  void set_config(std::string key, std::string value);
  // Restarts the random byte stream: the same seed yields the same bytes.
  void reseed(uint64_t seed);
  void set_now_unix_ms(int64_t now);
  void advance_ms(int64_t milliseconds);
  // A host without the optional services (call before loading a plugin): ABI 1.0 makes both optional.
  void remove_digest() { table_.digest = nullptr; }
  void remove_config() { table_.get_config = nullptr; }

  std::vector<std::string> log_lines() const;
  std::vector<LogLine> log() const;

 private:
  static void log(const ph_host *host, ph_log_level level, ph_str message);
  static int64_t now(const ph_host *host);
  static void random_bytes(const ph_host *host, void *buffer, size_t size);
  static ph_str get_config(const ph_host *host, ph_str key);
  static size_t digest(const ph_host *host, ph_str algorithm, ph_str data, uint8_t *out);

  ph_host table_{};
  mutable std::mutex mutex_;
  uint64_t random_state_ = 0;
  int64_t now_unix_ms_;
  std::map<std::string, std::string, std::less<>> config_;  // node-based: answered strings stay put
  std::vector<LogLine> log_;
};

// The digest of `data` as the host computes it ("md5", "sha1", "sha256"): raw bytes, empty for an
// algorithm the host does not know.
std::string digest(std::string_view algorithm, std::string_view data);
// The same in lowercase hex.
std::string digest_hex(std::string_view algorithm, std::string_view data);

}  // namespace provhost::testing
