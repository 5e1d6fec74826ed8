// plugin_abi.hpp: the host's side of the plugin ABI, in one place: loading a plugin file and
// negotiating with it, and a raw session that forwards the plugin's events and copies its
// requests out. The registry and the engine use it, and so does the test driver of the plugin
// tests, so that those tests run the host's own code path. Policy (which errors fail a chat, how
// they are worded for the user) is left to the callers.
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "provhost/core/chat.hpp"
#include "provhost/core/host_services.hpp"
#include "provhost/core/registry.hpp"

namespace provhost::core {

// A loaded plugin whose entry accepted the host. Destroying it follows the ABI's order: the
// provider's deinit, then the library is closed. The ph_host table it was given must outlive it.
class PluginLibrary {
 public:
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary &) = delete;
  PluginLibrary &operator=(const PluginLibrary &) = delete;

  const ph_provider *provider() const { return provider_; }
  uint32_t offered_version() const { return offered_; }
  uint32_t negotiated_version() const { return negotiated_; }

 private:
  struct SharedObject;  // the operating system's handle, kept out of this header
  friend struct PluginLibraryLoad load_plugin_library(const std::filesystem::path &, const ph_host &, uint32_t,
                                                      const MetadataLimits &, std::string_view);
  PluginLibrary(std::unique_ptr<SharedObject> object, const ph_provider *provider, uint32_t offered,
                uint32_t negotiated);

  std::unique_ptr<SharedObject> object_;
  const ph_provider *provider_;
  uint32_t offered_;
  uint32_t negotiated_;
};

// Either a library and its validated metadata, or why the file was rejected (one line).
struct PluginLibraryLoad {
  std::unique_ptr<PluginLibrary> library;
  ProviderMeta meta;
  std::string error;
};

// Loads `file`, calls its entry with `host` offering `offered_version`, checks the plugin's answer
// and validates its provider. `host` must outlive the library. With an `instance` (ABI 1.1), the
// entry is asked for that instance's provider, which must declare nothing less than 1.1 and be named
// exactly so.
PluginLibraryLoad load_plugin_library(const std::filesystem::path &file, const ph_host &host,
                                      uint32_t offered_version = PH_ABI_VERSION, const MetadataLimits &limits = {},
                                      std::string_view instance = {});

// What a failed load of `file` with Boost.DLL says (`what`, its exception's text), as dlerror's own
// words without Boost's wrapping and without the file's path, which the caller shows: "file too short".
std::string loader_message(const std::string &what, const std::filesystem::path &file);

// The name of the first session function a provider table leaves NULL, or nullptr when it has them
// all. The table's struct_size must cover them (PH_HAS_FIELD of session_close).
const char *missing_session_function(const ph_provider &provider);

// A request a session asked for, copied out of the plugin, whose own copy lives only until the next
// call into the session.
struct PluginRequest {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint32_t timeout_ms = 0;
};

// Copies `in` into `out`, reusing out's storage. nullopt when the request is well formed, else
// what is wrong with it, worded to follow "the plugin ": "asked for a request with ...".
std::optional<std::string_view> copy_request(const ph_http_request &in, PluginRequest &out);

// A plugin's retry policy as declared, the fields its struct_size does not cover zeroed; nullopt
// for none.
std::optional<ph_retry_policy> copy_retry_policy(const ph_retry_policy *policy);

// What a session reports. The calls come from inside the plugin's own functions, so none may throw.
class SessionEventListener {
 public:
  virtual void on_text(std::string_view text) noexcept = 0;
  virtual void on_finish() noexcept = 0;
  virtual void on_warning(std::string_view message) noexcept = 0;
  virtual void on_error(ph_failure failure, std::string_view message) noexcept = 0;
  // ABI 1.1 events, already copied out of the plugin's structs (fields their struct_size does not
  // cover are absent). A listener that does not need them keeps these.
  virtual void on_answer_info(const UpstreamReport &report) noexcept { (void)report; }
  virtual void on_tool_call(const ToolCallDelta &call) noexcept { (void)call; }

 protected:
  ~SessionEventListener() = default;
};

// One session of a provider, called as the ABI says and nothing more: statuses come back as the
// plugin returned them and exceptions that cross the boundary are the caller's to catch. It owns
// the session, which it closes exactly once, and the events table the plugin holds.
//
// The ABI lets a session report events only from inside its own functions, on the thread calling
// them. That is enforced: an event is taken only while a call into this session is in progress on
// the thread that reports it; any other (from a thread of the plugin's own, after the session
// closed, with another session's table) is dropped without its table being read, and a warning
// says so (to the session being called, else once per process on stderr). Tables are never given
// back to the allocator, only reused after many others, so that a plugin reading a stale one
// reads a table that is still valid and reaches the check.
class RawSession {
 public:
  // `provider` must have every session function (see missing_session_function).
  RawSession(const ph_provider &provider, SessionEventListener &listener);
  ~RawSession();
  RawSession(const RawSession &) = delete;
  RawSession &operator=(const RawSession &) = delete;

  // session_open. The session is kept (and closed later) whenever the plugin returned one, also
  // when opening failed half-way.
  ph_status open(std::string_view model, std::span<const ph_message> messages, bool stream,
                 std::string_view options_json, std::string_view passthrough_json = {});
  bool has_session() const { return session_ != nullptr; }

  // next_request into `out`, whose pointers stay valid until the next call into the session.
  ph_status next_request(ph_http_request &out);
  ph_response_action response_start(int status, const std::vector<std::pair<std::string, std::string>> &headers);
  ph_status body(std::string_view chunk);
  ph_status response_end();

  // session_close, once; later calls do nothing.
  void close();

  // Events dropped so far in this process because they came from outside their session's calls.
  static uint64_t stray_events();

 private:
  class Call;  // marks a call into this session in progress on this thread
  static void forward_text(const ph_session_events *events, ph_str text);
  static void forward_finish(const ph_session_events *events);
  static void forward_warning(const ph_session_events *events, ph_str message);
  static void forward_error(const ph_session_events *events, ph_failure failure, ph_str message);
  static void forward_answer_info(const ph_session_events *events, const ph_answer_info *info);
  static void forward_tool_call(const ph_session_events *events, const ph_tool_call *call);
  static RawSession *receiver(const ph_session_events *events);
  [[gnu::noinline, gnu::cold]] static void stray();  // counts and reports an event receiver() refused

  const ph_provider &provider_;
  SessionEventListener &listener_;
  ph_session_events *events_;  // from a pool, never freed
  ph_session *session_ = nullptr;
  std::vector<ph_header> header_views_;  // kept between responses for its capacity
  bool warned_stray_ = false;            // another session's stray events were reported during our calls
};

}  // namespace provhost::core
