#include "provhost/core/plugin_abi.hpp"

#include <algorithm>
#include <atomic>
#include <boost/dll/shared_library.hpp>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <provhost/text.hpp>

#include "provhost/core/plugin_loader.hpp"

namespace provhost::core {
namespace {

bool has_line_break(std::string_view text) { return text.find_first_of("\r\n") != std::string_view::npos; }

// Events tables, reused only once `quarantine` others have been given back since, so that an
// event reported with a stale table long after its session is very unlikely to reach a later one
// (and could only reach a session of a plugin running on the same thread).
class EventsTables {
 public:
  ph_session_events *take() {
    std::lock_guard lock(mutex_);
    if (spare_.size() <= quarantine) return new ph_session_events{};
    ph_session_events *table = spare_.front();
    spare_.pop_front();
    return table;
  }
  void give_back(ph_session_events *table) {
    table->host_data = nullptr;
    std::lock_guard lock(mutex_);
    spare_.push_back(table);
  }

 private:
  static constexpr size_t quarantine = 256;
  std::mutex mutex_;
  std::deque<ph_session_events *> spare_;
};

// Never destroyed: a plugin's thread may report events while the process exits.
EventsTables &events_tables() {
  static auto *tables = new EventsTables;
  return *tables;
}

// The events table of the call into a session that this thread is making; null outside calls.
// (Not initial-exec, though read at every event: the engine module is opened with dlopen, and its
// thread-local storage, serve's random generator with it, does not fit the static TLS surplus.)
thread_local const ph_session_events *calling_table = nullptr;
std::atomic<uint64_t> stray_event_count{0};
std::atomic<bool> stray_event_reported{false};

}  // namespace

std::string loader_message(const std::string &what, const std::filesystem::path &file) {
  std::string message = what;
  const std::string marker = "(dlerror system message: ";
  if (size_t start = message.find(marker); start != std::string::npos) {
    start += marker.size();
    size_t end = message.rfind(')');
    message = message.substr(start, end == std::string::npos || end < start ? std::string::npos : end - start);
  }
  const std::string prefix = file.string() + ": ";
  if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
  std::replace(message.begin(), message.end(), '\n', ' ');
  return message;
}

class RawSession::Call {
 public:
  explicit Call(const ph_session_events *table) : previous_(calling_table) { calling_table = table; }
  ~Call() { calling_table = previous_; }
  Call(const Call &) = delete;
  Call &operator=(const Call &) = delete;

 private:
  const ph_session_events *previous_;  // a plugin may open a session from inside another's call
};

struct PluginLibrary::SharedObject {
  boost::dll::shared_library library;
};

PluginLibrary::PluginLibrary(std::unique_ptr<SharedObject> object, const ph_provider *provider, uint32_t offered,
                             uint32_t negotiated)
    : object_(std::move(object)), provider_(provider), offered_(offered), negotiated_(negotiated) {}

PluginLibrary::~PluginLibrary() {
  if (provider_ && PH_HAS_FIELD(provider_, ph_provider, deinit) && provider_->deinit) {
    try {
      provider_->deinit(provider_);
    } catch (...) {
      // A plugin's exception must not escape into the host; it is being unloaded anyway.
    }
  }
  object_->library.unload();
}

PluginLibraryLoad load_plugin_library(const std::filesystem::path &file, const ph_host &host, uint32_t offered_version,
                                      const MetadataLimits &limits, std::string_view instance) {
  PluginLibraryLoad result;
  auto object = std::make_unique<PluginLibrary::SharedObject>();
  try {
    object->library.load(boost::dll::fs::path(file.string()),
                         boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception &e) {
    result.error = "not loadable: " + loader_message(e.what(), file);
    return result;
  }
  if (!object->library.has(PH_ENTRY_SYMBOL)) {
    result.error = "no entry symbol " PH_ENTRY_SYMBOL " (is it a provhost plugin?)";
    return result;
  }
  auto entry = object->library.get<ph_status(ph_entry_args *)>(PH_ENTRY_SYMBOL);

  ph_entry_args args{};
  args.struct_size = sizeof args;
  args.host_abi_version = offered_version;
  args.host = &host;
  args.instance = str(instance);
  ph_status status;
  try {
    status = entry(&args);
  } catch (const std::exception &e) {
    result.error = "the entry function threw an exception: " + one_line(e.what());
    return result;
  } catch (...) {
    result.error = "the entry function threw an exception";
    return result;
  }
  if (status == PH_REFUSED) {
    std::string refusal = one_line(trim(view(args.refusal)));
    result.error =
        refusal.empty() ? "the plugin refused to load (no reason given)" : "the plugin refused to load: " + refusal;
    return result;
  }
  if (status != PH_OK) {
    result.error = "the entry function returned status " + std::to_string(status);
    return result;
  }
  if (auto error = check_abi_answer(offered_version, args.plugin_abi_version)) {
    result.error = *error;
    return result;
  }
  // From here on, whatever the verdict, the provider gets its deinit before the library closes; not
  // before: a provider of another ABI version may not have the deinit of this one.
  std::unique_ptr<PluginLibrary> library(
      new PluginLibrary(std::move(object), args.provider, offered_version, args.plugin_abi_version));
  if (auto error = validate_provider(args.provider, result.meta, limits)) {
    result.error = *error;
    return result;
  }
  if (!instance.empty()) {
    // A 1.0 plugin never saw the instance: it made its own provider again, which is not what was asked for.
    if (PH_VERSION_MINOR(args.plugin_abi_version) < 1) {
      result.error = "the plugin speaks ABI " + format_abi_version(args.plugin_abi_version) +
                     ", which has no instances (1.1 and later)";
      return result;
    }
    if (result.meta.name != instance) {
      result.error = "asked for instance " + in_quotes(one_line(instance)) + ", the plugin made provider " +
                     in_quotes(result.meta.name);
      return result;
    }
  }
  result.library = std::move(library);
  return result;
}

const char *missing_session_function(const ph_provider &provider) {
  const std::pair<bool, const char *> functions[] = {{provider.session_open != nullptr, "session_open"},
                                                     {provider.next_request != nullptr, "next_request"},
                                                     {provider.on_response_start != nullptr, "on_response_start"},
                                                     {provider.on_body != nullptr, "on_body"},
                                                     {provider.on_response_end != nullptr, "on_response_end"},
                                                     {provider.session_close != nullptr, "session_close"}};
  for (const auto &[present, name] : functions) {
    if (!present) return name;
  }
  return nullptr;
}

std::optional<std::string_view> copy_request(const ph_http_request &in, PluginRequest &out) {
  std::string_view method = view(in.method), url = view(in.url);
  if (method.empty() || url.empty() || has_line_break(method) || has_line_break(url))
    return "asked for a request without a valid method and URL";
  if ((in.header_count && !in.headers) || (in.body.size && !in.body.data))
    return "asked for a request with NULL headers or body";
  out.headers.clear();
  out.headers.reserve(in.header_count);
  for (size_t i = 0; i < in.header_count; ++i) {
    std::string_view name = view(in.headers[i].name), value = view(in.headers[i].value);
    if (name.empty() || name.find(':') != std::string_view::npos || has_line_break(name) || has_line_break(value))
      return "asked for a request with a malformed header";
    out.headers.emplace_back(name, value);
  }
  out.method.assign(method);
  out.url.assign(url);
  out.body.assign(view(in.body));
  out.timeout_ms = in.timeout_ms;
  return std::nullopt;
}

std::optional<ph_retry_policy> copy_retry_policy(const ph_retry_policy *policy) {
  if (!policy) return std::nullopt;
  ph_retry_policy copy{};
  std::memcpy(&copy, policy, std::min(policy->struct_size, sizeof copy));
  copy.struct_size = policy->struct_size;
  return copy;
}

// ---- RawSession ----------------------------------------------------------------------------------

RawSession::RawSession(const ph_provider &provider, SessionEventListener &listener)
    : provider_(provider), listener_(listener), events_(events_tables().take()) {
  events_->struct_size = sizeof *events_;
  events_->host_data = this;
  events_->text = &forward_text;
  events_->finish = &forward_finish;
  events_->warning = &forward_warning;
  events_->error = &forward_error;
  events_->answer_info = &forward_answer_info;
  events_->tool_call = &forward_tool_call;
}

RawSession::~RawSession() {
  close();
  events_tables().give_back(events_);
}

ph_status RawSession::open(std::string_view model, std::span<const ph_message> messages, bool stream,
                           std::string_view options_json, std::string_view passthrough_json) {
  ph_chat_request request{};
  request.struct_size = sizeof request;
  request.model = str(model);
  request.messages = messages.data();
  request.message_count = messages.size();
  request.stream = stream ? 1 : 0;
  request.options_json = str(options_json);
  request.passthrough_json = str(passthrough_json.empty() ? std::string_view("{}") : passthrough_json);
  Call call(events_);
  // Straight into session_: a plugin that throws after handing out its session still gets it closed.
  return provider_.session_open(&provider_, &request, events_, &session_);
}

ph_status RawSession::next_request(ph_http_request &out) {
  out = ph_http_request{};
  out.struct_size = sizeof out;
  Call call(events_);
  return provider_.next_request(session_, &out);
}

ph_response_action RawSession::response_start(int status,
                                              const std::vector<std::pair<std::string, std::string>> &headers) {
  header_views_.clear();
  for (const auto &[name, value] : headers) header_views_.push_back(ph_header{str(name), str(value)});
  Call call(events_);
  return provider_.on_response_start(session_, status, header_views_.data(), header_views_.size());
}

ph_status RawSession::body(std::string_view chunk) {
  Call call(events_);
  return provider_.on_body(session_, str(chunk));
}

ph_status RawSession::response_end() {
  Call call(events_);
  return provider_.on_response_end(session_);
}

void RawSession::close() {
  if (!session_) return;
  ph_session *closing = session_;
  session_ = nullptr;  // first: a close that throws is not repeated
  provider_.session_close(closing);
}

uint64_t RawSession::stray_events() { return stray_event_count.load(std::memory_order_relaxed); }

// The session an event belongs to, or null when it came from outside its session's calls. Only
// pointers are compared: a stray table is never read, whatever state it is in. Inlined into each
// event's function, the stray case apart.
inline RawSession *RawSession::receiver(const ph_session_events *events) {
  if (events && events == calling_table) [[likely]]
    return static_cast<RawSession *>(events->host_data);
  stray();
  return nullptr;
}

void RawSession::stray() {
  stray_event_count.fetch_add(1, std::memory_order_relaxed);
  if (calling_table) {
    auto *called = static_cast<RawSession *>(calling_table->host_data);
    if (!called->warned_stray_) {
      called->warned_stray_ = true;
      called->listener_.on_warning(
          "the plugin reported an event for another session, or after its session closed; "
          "dropped");
    }
  } else if (!stray_event_reported.exchange(true)) {
    static constexpr char line[] =
        "provhost: warning: a plugin reported session events from outside its session's calls (another thread, or "
        "after the session closed); they are dropped\n";
    std::fwrite(line, 1, sizeof line - 1, stderr);
  }
}

void RawSession::forward_text(const ph_session_events *events, ph_str text) {
  if (RawSession *session = receiver(events)) session->listener_.on_text(view(text));
}

void RawSession::forward_finish(const ph_session_events *events) {
  if (RawSession *session = receiver(events)) session->listener_.on_finish();
}

void RawSession::forward_warning(const ph_session_events *events, ph_str message) {
  if (RawSession *session = receiver(events)) session->listener_.on_warning(view(message));
}

void RawSession::forward_error(const ph_session_events *events, ph_failure failure, ph_str message) {
  if (RawSession *session = receiver(events)) session->listener_.on_error(failure, view(message));
}

namespace {

// A count as the plugin gave it: negative means none.
std::optional<uint64_t> token_count(int64_t count) {
  return count < 0 ? std::nullopt : std::optional<uint64_t>(static_cast<uint64_t>(count));
}

// Copies a borrowed string of an event; "" for a NULL pointer (the plugin's mistake, read as nothing).
std::string event_string(ph_str text) { return text.data ? std::string(view(text)) : std::string(); }

}  // namespace

void RawSession::forward_answer_info(const ph_session_events *events, const ph_answer_info *info) {
  RawSession *session = receiver(events);
  if (!session || !info) return;
  try {
    UpstreamReport report;
    if (PH_HAS_FIELD(info, ph_answer_info, prompt_tokens)) report.prompt_tokens = token_count(info->prompt_tokens);
    if (PH_HAS_FIELD(info, ph_answer_info, completion_tokens))
      report.completion_tokens = token_count(info->completion_tokens);
    if (PH_HAS_FIELD(info, ph_answer_info, finish_reason)) report.finish_reason = event_string(info->finish_reason);
    session->listener_.on_answer_info(report);
  } catch (...) {
    // Out of memory while copying: the answer goes on with the host's own estimate.
  }
}

void RawSession::forward_tool_call(const ph_session_events *events, const ph_tool_call *call) {
  RawSession *session = receiver(events);
  if (!session || !call) return;
  try {
    ToolCallDelta delta;
    if (PH_HAS_FIELD(call, ph_tool_call, index)) delta.index = call->index;
    if (PH_HAS_FIELD(call, ph_tool_call, id)) delta.id = event_string(call->id);
    if (PH_HAS_FIELD(call, ph_tool_call, name)) delta.name = event_string(call->name);
    if (PH_HAS_FIELD(call, ph_tool_call, arguments)) delta.arguments = event_string(call->arguments);
    session->listener_.on_tool_call(delta);
  } catch (...) {
    session->listener_.on_error(PH_FAIL_INTERNAL, "a tool call could not be copied (out of memory)");
  }
}

}  // namespace provhost::core
