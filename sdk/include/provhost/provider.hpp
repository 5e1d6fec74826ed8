// provider.hpp: write a provider plugin in C++ without touching the C ABI.
//
//   class MySession : public provhost::Session { ... };        // builds requests, parses bytes
//   class MyProvider : public provhost::Provider { ... };      // metadata + open()
//   PROVHOST_PLUGIN(MyProvider)                                // the one exported entry symbol
//
// or, for a provider that is only its metadata and its session, SimpleProvider (below) in place of MyProvider.
//
// The glue below converts between the C structs of provhost.h and these types, negotiates the ABI
// version, and catches every exception at the boundary: a ProviderError becomes that failure, any
// other exception an internal error, so nothing C++ ever crosses into the host.
//
// Header-only, standard library only.
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <provhost/text.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace provhost {

struct Message {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct ChatRequest {
  std::string model;  // resolved by the host: never empty, never an alias
  std::vector<Message> messages;
  bool stream = true;
  std::string options_json = "{}";  // extra options as a JSON object
  // The caller's OpenAI fields this provider declared it honours (ABI 1.1, ph_chat_request.passthrough_json);
  // "{}" when none, and always from a 1.0 host.
  std::string passthrough_json = "{}";
};

struct Header {
  std::string name;
  std::string value;
};

struct RetryPolicy {
  uint32_t max_attempts = 1;
  uint32_t initial_backoff_ms = 0;
  uint32_t backoff_multiplier = 2;
  uint32_t retry_on = 0;  // PH_RETRY_ON_* flags
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<Header> headers;
  std::string body;
  uint32_t timeout_ms = 0;  // 0 = the host's default
  std::optional<RetryPolicy> retry;
};

enum class Failure : ph_failure {
  protocol = PH_FAIL_PROTOCOL,
  upstream = PH_FAIL_UPSTREAM,
  rate_limited = PH_FAIL_RATE_LIMITED,
  auth = PH_FAIL_AUTH,
  blocked = PH_FAIL_BLOCKED,
  truncated = PH_FAIL_TRUNCATED,
  bad_request = PH_FAIL_BAD_REQUEST,
  internal = PH_FAIL_INTERNAL,
};

enum class ResponseAction : ph_response_action {
  read = PH_RESPONSE_READ,
  http_error = PH_RESPONSE_HTTP_ERROR,
  discard = PH_RESPONSE_DISCARD,
};

// Throw this from a session or from Provider::open to fail the request with a reason.
class ProviderError : public std::runtime_error {
 public:
  ProviderError(Failure failure, const std::string &message) : std::runtime_error(message), failure_(failure) {}
  Failure failure() const { return failure_; }

 private:
  Failure failure_;
};

// The capability strings of provhost.h (PH_CAP_...), for ProviderInfo::capabilities.
namespace capability {
inline constexpr const char *stream = PH_CAP_STREAM;
inline constexpr const char *no_stream = PH_CAP_NO_STREAM;
inline constexpr const char *message_history = PH_CAP_MESSAGE_HISTORY;
inline constexpr const char *system_message = PH_CAP_SYSTEM_MESSAGE;
inline constexpr const char *param_temperature = PH_CAP_PARAM_TEMPERATURE;
inline constexpr const char *param_top_p = PH_CAP_PARAM_TOP_P;
inline constexpr const char *param_max_tokens = PH_CAP_PARAM_MAX_TOKENS;
inline constexpr const char *param_stop = PH_CAP_PARAM_STOP;
inline constexpr const char *instances = PH_CAP_INSTANCES;                          // since 1.1
inline constexpr const char *param_tools = PH_CAP_PARAM_TOOLS;                      // since 1.1
inline constexpr const char *param_response_format = PH_CAP_PARAM_RESPONSE_FORMAT;  // since 1.1
}  // namespace capability

struct ProviderInfo {
  std::string name;
  std::string version = "1.0.0";
  std::string description;
  std::string url;
  bool working = true;
  std::string default_model;
  std::vector<std::string> models;
  std::vector<std::pair<std::string, std::string>> aliases;  // alias -> model
  std::vector<std::string> capabilities;                     // capability::stream, ...
};

// The host's services. Cheap to copy; valid while the plugin is loaded. [any-thread]
class Host {
 public:
  Host() = default;
  explicit Host(const ph_host *host, std::string instance = {}) : host_(host), instance_(std::move(instance)) {}

  // The instance this provider was made for (ABI 1.1, ph_entry_args.instance); "" for the plugin's own provider.
  // A provider made for an instance names itself exactly so.
  const std::string &instance() const { return instance_; }

  // The ABI wants one line of UTF-8; messages are often built from upstream bytes.
  void log(ph_log_level level, std::string_view message) const {
    if (host_ && host_->log) host_->log(host_, level, str(one_line(message)));
  }
  void warning(std::string_view message) const { log(PH_LOG_WARNING, message); }
  void debug(std::string_view message) const { log(PH_LOG_DEBUG, message); }

  int64_t now_unix_ms() const { return host_ && host_->now_unix_ms ? host_->now_unix_ms(host_) : 0; }

  void random_bytes(void *buffer, size_t size) const {
    if (host_ && host_->random_bytes) host_->random_bytes(host_, buffer, size);
  }

  // `length` characters drawn uniformly from `alphabet` (1 to 256 characters).
  std::string random_string(std::string_view alphabet, size_t length) const {
    const size_t n = alphabet.size();
    // Outside 1..256 the rejection limit below would be 0 (or a division by zero): no byte could ever pass.
    if (n == 0 || n > 256) throw std::invalid_argument("random_string: the alphabet must have 1 to 256 characters");
    std::string out;
    out.reserve(length);
    const size_t limit = 256 - 256 % n;  // rejection sampling keeps the draw uniform
    while (out.size() < length) {
      unsigned char bytes[64] = {};  // zeros, not garbage, should the host fill nothing
      random_bytes(bytes, sizeof bytes);
      for (unsigned char b : bytes) {
        if (b < limit && out.size() < length) out.push_back(alphabet[b % n]);
      }
    }
    return out;
  }

  // Lowercase hex digest of `data` ("md5", "sha1", "sha256"); "" when the host lacks it.
  std::string digest_hex(std::string_view algorithm, std::string_view data) const {
    if (!host_ || !PH_HAS_FIELD(host_, ph_host, digest) || !host_->digest) return {};
    uint8_t raw[PH_MAX_DIGEST_SIZE];
    size_t size = host_->digest(host_, str(algorithm), str(data), raw);
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < size && i < sizeof raw; ++i) {
      out.push_back(hex[raw[i] >> 4]);
      out.push_back(hex[raw[i] & 15]);
    }
    return out;
  }

  // A configuration value or secret for this plugin (PROVHOST_<PROVIDER>_<KEY>); "" when unset.
  std::string config(std::string_view key) const {
    if (!host_ || !PH_HAS_FIELD(host_, ph_host, get_config) || !host_->get_config) return {};
    return std::string(view(host_->get_config(host_, str(key))));
  }

 private:
  const ph_host *host_ = nullptr;
  std::string instance_;
};

// A piece of a tool call (ph_tool_call): id and name on a call's first piece, more arguments text after.
struct ToolCallPiece {
  uint32_t index = 0;
  std::string_view id;
  std::string_view name;
  std::string_view arguments;
};

// Where a session reports its answer. [session-thread]
class Events {
 public:
  Events() = default;
  explicit Events(const ph_session_events *events) : events_(events) {}

  void text(std::string_view text) {
    if (!text.empty() && events_ && events_->text) events_->text(events_, str(text));
  }
  // The answer ended normally; the host stops reading the response.
  void finish() {
    if (finished_) return;
    finished_ = true;
    if (events_ && events_->finish) events_->finish(events_);
  }
  // Messages are one line of UTF-8, as the ABI wants, whatever upstream bytes they quote ("upstream error:
  // q\nuota" arrives as "upstream error: q\x0auota").
  void warning(std::string_view message) {
    if (events_ && events_->warning) events_->warning(events_, str(one_line(message)));
  }
  void error(Failure failure, std::string_view message) {
    failed_ = true;
    if (events_ && events_->error) events_->error(events_, static_cast<ph_failure>(failure), str(one_line(message)));
  }
  // The upstream's own token counts (-1: not given) and finish reason ("" when unknown), once, before finish();
  // dropped by a 1.0 host, which estimates instead.
  void answer_info(int64_t prompt_tokens, int64_t completion_tokens, std::string_view finish_reason) {
    if (!events_ || !PH_HAS_FIELD(events_, ph_session_events, answer_info) || !events_->answer_info) return;
    ph_answer_info info{sizeof(ph_answer_info), prompt_tokens, completion_tokens, str(finish_reason)};
    events_->answer_info(events_, &info);
  }
  // False when the host cannot take tool calls (a 1.0 host), so that a session can fail rather than lose them.
  bool takes_tool_calls() const {
    return events_ && PH_HAS_FIELD(events_, ph_session_events, tool_call) && events_->tool_call;
  }
  void tool_call(const ToolCallPiece &piece) {
    if (!takes_tool_calls()) return;
    ph_tool_call call{sizeof(ph_tool_call), piece.index, str(piece.id), str(piece.name), str(piece.arguments)};
    events_->tool_call(events_, &call);
  }
  bool finished() const { return finished_; }
  bool failed() const { return failed_; }

 private:
  const ph_session_events *events_ = nullptr;
  bool finished_ = false;
  bool failed_ = false;
};

// One chat answer in progress: a small state machine driven by the host. [session-thread]
class Session {
 public:
  explicit Session(Events events) : events_(events) {}
  virtual ~Session() = default;

  // The next request to send, or nullopt when the answer is complete.
  virtual std::optional<HttpRequest> next_request() = 0;

  // A response began. By default a 2xx status is read and anything else is an HTTP error that the
  // host reports the same way for every provider.
  virtual ResponseAction on_response_start(int status, const std::vector<Header> &headers) {
    (void)headers;
    return status >= 200 && status < 300 ? ResponseAction::read : ResponseAction::http_error;
  }

  // More response bytes, split anywhere. Call events().text() for answer text and events().finish()
  // at the upstream's terminator (the host then stops reading).
  virtual void on_body(std::string_view chunk) = 0;

  // The response ended cleanly: flush buffered data. A protocol without a terminator calls
  // events().finish() here; one with a terminator leaves it uncalled, and the host reports the
  // answer as truncated.
  virtual void on_response_end() {}

  Events &events() { return events_; }

 private:
  Events events_;
};

// A provider: one instance per loaded plugin, shared by all its sessions (which may run on
// different threads at once: guard shared state).
class Provider {
 public:
  explicit Provider(Host host) : host_(std::move(host)) {}
  virtual ~Provider() = default;

  // Called once, at load.
  virtual ProviderInfo info() const = 0;

  // [any-thread] Start answering `request`; throw ProviderError to refuse it.
  virtual std::unique_ptr<Session> open(const ChatRequest &request, Events events) = 0;

  const Host &host() const { return host_; }

 private:
  Host host_;
};

// What a SimpleProvider lends each session it opens: the provider's metadata (to resolve a model, say) and the
// host's services. Valid for as long as the session.
struct ProviderContext {
  const ProviderInfo &info;
  const Host &host;
};

// The provider most plugins need, so that a plugin declares only its metadata and its session:
//
//   ProviderInfo my_info();                          // name, models, aliases, capabilities
//   class MySession : public provhost::Session {
//    public:
//     MySession(const ChatRequest &, Events, const ProviderContext &);  // throw ProviderError to refuse
//     ...
//   };
//   using MyProvider = provhost::SimpleProvider<MySession, my_info>;
//   PROVHOST_PLUGIN(MyProvider)
//
// `Shared`, when given, is state that every session of the provider shares (a cache, say): one default-
// constructed instance per loaded plugin, passed to the session's constructor as a fourth argument, `Shared &`.
// Sessions may run on several threads at once, so it guards itself.
template <class SessionT, ProviderInfo (*Describe)(), class Shared = void>
class SimpleProvider final : public Provider {
 public:
  explicit SimpleProvider(Host host) : Provider(std::move(host)), info_(Describe()) {}

  ProviderInfo info() const override { return info_; }

  std::unique_ptr<Session> open(const ChatRequest &request, Events events) override {
    const ProviderContext context{info_, host()};
    if constexpr (std::is_void_v<Shared>) {
      return std::make_unique<SessionT>(request, events, context);
    } else {
      return std::make_unique<SessionT>(request, events, context, shared_);
    }
  }

 private:
  struct Nothing {};
  const ProviderInfo info_;
  std::conditional_t<std::is_void_v<Shared>, Nothing, Shared> shared_;
};

namespace detail {

// The boundary wrapper: runs `body`, turns any exception into an error event.
template <class Body>
ph_status guarded(Events &events, Body &&body) {
  try {
    return body();
  } catch (const ProviderError &e) {
    events.error(e.failure(), e.what());
  } catch (const std::exception &e) {
    events.error(Failure::internal, std::string("internal error: ") + e.what());
  } catch (...) {
    events.error(Failure::internal, "internal error: unknown exception");
  }
  return PH_FAILED;
}

}  // namespace detail
}  // namespace provhost

// The C-side session: owns the C++ session and the views of the request it last handed out.
struct ph_session {
  std::unique_ptr<provhost::Session> impl;
  provhost::Events events;  // used when impl could not be created
  provhost::HttpRequest request;
  std::vector<ph_header> header_views;
  ph_retry_policy retry{};
};

namespace provhost::detail {

// One provider the plugin made: its own, or one per configured instance (ABI 1.1). Each keeps its C
// descriptors; `table` is what the host holds and what its calls come back with.
template <class ProviderClass>
struct ProviderSlot {
  std::unique_ptr<ProviderClass> provider;
  ProviderInfo info;
  std::vector<ph_str> model_views;
  std::vector<ph_alias> alias_views;
  std::vector<ph_str> capability_views;
  ph_provider_info c_info{};
  ph_provider table{};
};

template <class ProviderClass>
class PluginGlue {
 public:
  static ph_status entry(ph_entry_args *args) {
    if (!args || args->struct_size < offsetof(ph_entry_args, refusal)) return PH_REFUSED;
    uint32_t version = ph_negotiate_version(args->host_abi_version, PH_ABI_VERSION);
    if (version == 0) {
      if (PH_HAS_FIELD(args, ph_entry_args, refusal))
        args->refusal = str("the plugin speaks another ABI major version");
      return PH_REFUSED;
    }
    std::string instance;
    if (PH_VERSION_MINOR(version) >= 1 && PH_HAS_FIELD(args, ph_entry_args, instance))
      instance = std::string(view(args->instance));
    // A deque, so that the tables handed out earlier stay where they are as instances are added. Entries run on
    // the host's main thread, before any session of the provider they make.
    ProviderSlot<ProviderClass> &slot = slots_.emplace_back();
    try {
      slot.provider = std::make_unique<ProviderClass>(Host(args->host, instance));
      store_info(slot, slot.provider->info());
    } catch (const std::exception &e) {
      slot.provider.reset();
      static std::string reason;
      reason = std::string("the provider failed to start: ") + e.what();
      if (PH_HAS_FIELD(args, ph_entry_args, refusal)) args->refusal = str(reason);
      return PH_REFUSED;
    }
    ph_provider &table = slot.table;
    table.struct_size = sizeof table;
    table.info = &slot.c_info;
    table.session_open = &session_open;
    table.next_request = &next_request;
    table.on_response_start = &on_response_start;
    table.on_body = &on_body;
    table.on_response_end = &on_response_end;
    table.session_close = &session_close;
    table.deinit = &deinit;
    args->plugin_abi_version = version;
    args->provider = &table;
    return PH_OK;
  }

 private:
  static ProviderSlot<ProviderClass> &slot_of(const ph_provider *table) {
    for (auto &slot : slots_)
      if (&slot.table == table) return slot;
    throw std::logic_error("the host called with a provider this plugin did not make");
  }

  static void store_info(ProviderSlot<ProviderClass> &slot, const ProviderInfo &info) {
    slot.info = info;
    for (auto &m : slot.info.models) slot.model_views.push_back(str(m));
    for (auto &a : slot.info.aliases) slot.alias_views.push_back(ph_alias{str(a.first), str(a.second)});
    for (auto &c : slot.info.capabilities) slot.capability_views.push_back(str(c));
    ph_provider_info &c_info = slot.c_info;
    c_info = ph_provider_info{};
    c_info.struct_size = sizeof c_info;
    c_info.name = str(slot.info.name);
    c_info.version = str(slot.info.version);
    c_info.description = str(slot.info.description);
    c_info.url = str(slot.info.url);
    c_info.working = slot.info.working ? 1 : 0;
    c_info.default_model = str(slot.info.default_model);
    c_info.models = slot.model_views.data();
    c_info.model_count = slot.model_views.size();
    c_info.aliases = slot.alias_views.data();
    c_info.alias_count = slot.alias_views.size();
    c_info.capabilities = slot.capability_views.data();
    c_info.capability_count = slot.capability_views.size();
  }

  static ph_status session_open(const ph_provider *table, const ph_chat_request *request,
                                const ph_session_events *events, ph_session **out_session) {
    *out_session = nullptr;
    auto session = std::make_unique<ph_session>();
    session->events = Events(events);
    ph_status status = guarded(session->events, [&] {
      ChatRequest req;
      req.model = std::string(view(request->model));
      for (size_t i = 0; i < request->message_count; ++i) {
        req.messages.push_back(
            Message{std::string(view(request->messages[i].role)), std::string(view(request->messages[i].content))});
      }
      req.stream = request->stream != 0;
      if (request->options_json.size) req.options_json = std::string(view(request->options_json));
      if (PH_HAS_FIELD(request, ph_chat_request, passthrough_json) && request->passthrough_json.size)
        req.passthrough_json = std::string(view(request->passthrough_json));
      session->impl = slot_of(table).provider->open(req, Events(events));
      return session->impl ? PH_OK : PH_FAILED;
    });
    if (status == PH_OK) *out_session = session.release();
    return status;
  }

  static ph_status next_request(ph_session *s, ph_http_request *out) {
    // A session that reported an error produces nothing more, however its state machine stands.
    if (s->impl->events().failed()) return PH_FAILED;
    return guarded(s->impl->events(), [&] {
      std::optional<HttpRequest> next = s->impl->next_request();
      if (!next) return s->impl->events().failed() ? PH_FAILED : PH_DONE;
      s->request = std::move(*next);
      s->header_views.clear();
      for (auto &h : s->request.headers) s->header_views.push_back(ph_header{str(h.name), str(h.value)});
      out->method = str(s->request.method);
      out->url = str(s->request.url);
      out->headers = s->header_views.data();
      out->header_count = s->header_views.size();
      out->body = str(s->request.body);
      if (PH_HAS_FIELD(out, ph_http_request, timeout_ms)) out->timeout_ms = s->request.timeout_ms;
      if (PH_HAS_FIELD(out, ph_http_request, retry)) {
        out->retry = nullptr;
        if (s->request.retry) {
          const RetryPolicy &r = *s->request.retry;
          s->retry = ph_retry_policy{sizeof(ph_retry_policy), r.max_attempts, r.initial_backoff_ms,
                                     r.backoff_multiplier, r.retry_on};
          out->retry = &s->retry;
        }
      }
      return PH_OK;
    });
  }

  static ph_response_action on_response_start(ph_session *s, int32_t status, const ph_header *headers, size_t count) {
    ResponseAction action = ResponseAction::http_error;
    guarded(s->impl->events(), [&] {
      std::vector<Header> copy;
      copy.reserve(count);
      for (size_t i = 0; i < count; ++i)
        copy.push_back(Header{std::string(view(headers[i].name)), std::string(view(headers[i].value))});
      action = s->impl->on_response_start(status, copy);
      return PH_OK;
    });
    return static_cast<ph_response_action>(action);
  }

  static ph_status on_body(ph_session *s, ph_str chunk) {
    if (s->impl->events().failed()) return PH_FAILED;
    return guarded(s->impl->events(), [&] {
      s->impl->on_body(view(chunk));
      if (s->impl->events().failed()) return PH_FAILED;
      return s->impl->events().finished() ? PH_DONE : PH_OK;
    });
  }

  static ph_status on_response_end(ph_session *s) {
    return guarded(s->impl->events(), [&] {
      s->impl->on_response_end();
      return s->impl->events().failed() ? PH_FAILED : PH_OK;
    });
  }

  static void session_close(ph_session *s) { delete s; }

  static void deinit(const ph_provider *table) {
    for (auto &slot : slots_)
      if (&slot.table == table) slot.provider.reset();
  }

  static inline std::deque<ProviderSlot<ProviderClass>> slots_;
};

}  // namespace provhost::detail

// Defines the plugin's one exported symbol for `ProviderClass` (a provhost::Provider constructible
// from a provhost::Host). Use it once per plugin, in one source file.
#define PROVHOST_PLUGIN(ProviderClass)                                        \
  extern "C" PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) { \
    return ::provhost::detail::PluginGlue<ProviderClass>::entry(args);        \
  }
