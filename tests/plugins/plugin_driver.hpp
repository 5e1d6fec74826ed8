// plugin_driver.hpp: drives a built provider plugin through its C ABI with the host's own adapter
// (provhost/core/plugin_abi.hpp), so that unit tests exercise the real .so on the host's code path:
// loading, the entry handshake with a fake ph_host, validation, sessions, requests, responses fed in
// chosen pieces, and the events that come back, recorded raw.
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <provhost/core/plugin_abi.hpp>
#include <provhost/text.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provhost::test {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// The host services a plugin under test sees: randomness and clock that the test controls, and a real MD5
// (OpenSSL) behind `digest`. Safe to use from several threads, as the ABI promises.
class FakeHost {
 public:
  explicit FakeHost(uint64_t seed = 1, int64_t now_unix_ms = 1'700'000'000'123);
  FakeHost(const FakeHost &) = delete;
  FakeHost &operator=(const FakeHost &) = delete;

  const ph_host *table() const { return &table_; }

  // Restarts the random byte stream: the same seed yields the same bytes.
  void reseed(uint64_t seed);
  void set_now_unix_ms(int64_t now);
  // A host without the optional digest service (call before loading a plugin).
  void remove_digest() { table_.digest = nullptr; }
  std::vector<std::string> log_lines() const;

 private:
  static void log(const ph_host *host, ph_log_level level, ph_str message);
  static int64_t now(const ph_host *host);
  static void random_bytes(const ph_host *host, void *buffer, size_t size);
  static size_t digest(const ph_host *host, ph_str algorithm, ph_str data, uint8_t *out);

  ph_host table_{};
  mutable std::mutex mutex_;
  uint64_t random_state_ = 0;
  int64_t now_unix_ms_;
  std::vector<std::string> log_lines_;
};

// Lowercase hex digest computed by OpenSSL, independently of any plugin.
std::string digest_hex(std::string_view algorithm, std::string_view data);

// A plugin file, loaded, negotiated and validated as the host does; throws std::runtime_error with
// the host's reason when it would be rejected. Unloading calls deinit, as the host does.
class Plugin {
 public:
  Plugin(const std::string &path, FakeHost &host, uint32_t offered_version = PH_ABI_VERSION);
  Plugin(const Plugin &) = delete;
  Plugin &operator=(const Plugin &) = delete;

  const ph_provider &provider() const { return *library_->provider(); }
  const ph_provider_info &info() const { return *provider().info; }
  uint32_t negotiated_version() const { return library_->negotiated_version(); }

  // The metadata as the host copied it out.
  std::string name() const { return meta_.name; }
  std::string url() const { return meta_.url; }
  std::string default_model() const { return meta_.default_model; }
  std::vector<std::string> models() const { return meta_.models; }
  std::vector<std::string> capabilities() const { return meta_.capabilities; }
  Pairs aliases() const { return meta_.aliases; }

 private:
  std::unique_ptr<core::PluginLibrary> library_;
  core::ProviderMeta meta_;
};

// What a test asks the plugin for; messages are (role, content).
struct Chat {
  Pairs messages;
  std::string model;
  bool stream = true;
  std::string options_json = "{}";
};

// A chat of these (role, content) messages, everything else as defaults.
inline Chat chat_of(Pairs messages) {
  Chat chat;
  chat.messages = std::move(messages);
  return chat;
}

// A request the plugin asked the host to send, copied out of the ABI structs by the host's code.
struct Request : core::PluginRequest {
  std::optional<ph_retry_policy> retry;  // as declared

  // Header names compare case-insensitively, as in HTTP.
  std::optional<std::string> header(std::string_view name) const;
  size_t header_count(std::string_view name) const;
};

struct Response {
  int status = 200;
  Pairs headers;
  std::string body;
};

// Everything a session reported through its events table.
struct Outcome {
  std::vector<std::string> texts;  // each text event, in order
  int finishes = 0;
  std::vector<std::string> warnings;
  std::vector<std::pair<ph_failure, std::string>> errors;

  std::string text() const;
  bool operator==(const Outcome &) const = default;
};

// One session of a loaded plugin, driven call by call. A request the host would reject as malformed
// throws std::logic_error.
class Session : private core::SessionEventListener {
 public:
  Session(const Plugin &plugin, const Chat &chat);
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  ph_status open_status() const { return open_status_; }

  // The next request, or nullopt when next_request returned PH_DONE / PH_FAILED (see last_status()).
  std::optional<Request> next_request();
  ph_status last_status() const { return last_status_; }

  ph_response_action start_response(int status, const Pairs &headers = {});
  ph_status body(std::string_view chunk);
  ph_status end_response();

  // The host's reading loop: starts the response and, when the plugin reads it, feeds the body cut at
  // `cuts` (increasing offsets), stopping as soon as the plugin says PH_DONE or PH_FAILED and calling
  // on_response_end only after a body that was fed whole.
  ph_response_action respond(const Response &response, const std::vector<size_t> &cuts = {});

  const Outcome &outcome() const { return outcome_; }

 private:
  void on_text(std::string_view text) noexcept override { outcome_.texts.emplace_back(text); }
  void on_finish() noexcept override { ++outcome_.finishes; }
  void on_warning(std::string_view message) noexcept override { outcome_.warnings.emplace_back(message); }
  void on_error(ph_failure failure, std::string_view message) noexcept override {
    outcome_.errors.emplace_back(failure, std::string(message));
  }

  ph_status open_status_ = PH_FAILED;
  ph_status last_status_ = PH_OK;
  Outcome outcome_;
  core::RawSession session_;  // last: closed before what its events write to goes away
};

// Opens a session, answers its one request with `response` cut at `cuts`, then asks for the next request
// (which must not come) and returns what the session reported.
Outcome answer_once(const Plugin &plugin, const Chat &chat, const Response &response,
                    const std::vector<size_t> &cuts = {});

// The ways of cutting a body of `size` bytes that parsing must not notice: every single cut, one byte at a
// time, and, for bodies of at most `three_way_limit` bytes, every pair of cuts.
std::vector<std::vector<size_t>> cut_plans(size_t size, size_t three_way_limit);

// The pairs of an application/x-www-form-urlencoded body, decoded.
Pairs form_decode(std::string_view body);

}  // namespace provhost::test
