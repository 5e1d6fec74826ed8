// engine_session.hpp: one provider session, driven through the C ABI by a RawSession
// (plugin_abi.hpp). Every call into the plugin is guarded: a missing function, a bad answer or an
// exception that crosses the boundary fails the session with ErrorKind::plugin instead of the
// process. The session is closed exactly once.
#pragma once

#include <memory>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/http_error.hpp>
#include <provhost/core/plugin_abi.hpp>
#include <provhost/core/registry.hpp>
#include <provhost/core/retry.hpp>
#include <provhost/text.hpp>
#include <string>
#include <string_view>

namespace provhost::core::detail {

// Receives what the session reports while the engine feeds it.
class SessionListener {
 public:
  // All the text one call into the plugin produced, when that call returns; `repaired` when an event of
  // it was not UTF-8 on its own and was repaired here (the rest is the trust boundary's to check).
  virtual void session_text(std::string_view text, bool repaired) = 0;
  virtual void session_warning(std::string_view message) = 0;
  // ABI 1.1's events; a listener that has no use for them keeps these.
  virtual void session_tool_call(const ToolCallDelta &call) { (void)call; }
  virtual void session_report(const UpstreamReport &report) { (void)report; }

 protected:
  ~SessionListener() = default;
};

// A request the session asked for, copied out of the plugin (whose copy only lives until the next
// call into the session, while retries need it longer).
struct OutgoingRequest : PluginRequest {
  RetryPolicy retry;
};

// The part of a chat's passthrough_json (ChatSpec) that `provider` declared it honours: tools, tool_choice,
// parallel_tool_calls and messages with "param:tools", response_format with "param:response_format"; "{}" when
// none.
std::string passthrough_for(const ProviderMeta &provider, std::string_view passthrough_json);

// The text events of one call into a plugin, gathered to be handed on in one piece. A stream reports
// a few bytes per event and hundreds of events per call: std::string::append cost a call to memcpy
// and its checks for each, where a short piece is copied here by a few moves (provhost::copy_bytes).
class EventText {
 public:
  void append(std::string_view text) {
    const size_t size = text.size();
    if (capacity_ - size_ < size) grow(size);
    copy_bytes(data_.get() + size_, text.data(), size);
    size_ += size;
  }
  std::string_view view() const { return {data_.get(), size_}; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }

 private:
  void grow(size_t more);  // throws std::bad_alloc, or std::length_error past what a size holds

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

class PluginSession final : private SessionEventListener {
 public:
  PluginSession(const LoadedProvider &provider, std::string model, SessionListener &listener);
  ~PluginSession();
  PluginSession(const PluginSession &) = delete;
  PluginSession &operator=(const PluginSession &) = delete;

  const std::string &provider_name() const { return provider_.meta.name; }
  const std::string &model() const { return model_; }

  // Opens the session for `spec`; false when it failed (see failure()).
  bool open(const ChatSpec &spec);

  enum class Next { request, done, failed };
  Next next_request(OutgoingRequest &out);

  // What to do with a response that began; nullopt when the session failed.
  std::optional<ph_response_action> response_start(int status, const HttpHeaders &headers);

  // PH_OK (keep reading), PH_DONE (the answer is complete) or PH_FAILED.
  ph_status body(std::string_view chunk);

  // PH_OK or PH_FAILED.
  ph_status response_end();

  // Frees the plugin's session; later calls do nothing.
  void close();

  // The session called `finish`: the answer ended normally.
  bool finished() const { return finished_; }
  // Why the session failed: its error event, or what the plugin did wrong.
  ChatError failure() const;

 private:
  void on_text(std::string_view text) noexcept override;
  void on_finish() noexcept override;
  void on_warning(std::string_view message) noexcept override;
  void on_error(ph_failure failure, std::string_view message) noexcept override;
  void on_answer_info(const UpstreamReport &report) noexcept override;
  void on_tool_call(const ToolCallDelta &call) noexcept override;

  template <class Result, class Call>
  Result guarded(const char *function, Result on_throw, Call &&call);
  void deliver_text();
  void repair_split_text(std::string_view text);
  void fail(ErrorKind kind, std::string_view message);
  void plugin_bug(std::string_view what);
  ph_status checked_status(ph_status status, const char *function, bool done_allowed);

  const LoadedProvider &provider_;
  const ph_provider *abi_;
  std::string model_;
  SessionListener &listener_;
  std::optional<RawSession> raw_;  // once the provider table passed the checks
  bool finished_ = false;
  bool warned_after_finish_ = false;
  std::optional<ChatError> failure_;
  EventText pending_text_;      // text reported during the current call into the plugin
  size_t pending_checked_ = 0;  // its bytes that are each event's own (see on_text)
  bool pending_repaired_ = false;
};

}  // namespace provhost::core::detail
