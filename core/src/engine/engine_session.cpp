#include "engine_session.hpp"

#include <exception>
#include <provhost/text.hpp>
#include <vector>

namespace provhost::core::detail {
namespace {

ph_str as_str(std::string_view s) { return ph_str{s.data(), s.size()}; }

bool has_line_break(std::string_view text) { return text.find_first_of("\r\n") != std::string_view::npos; }

// A plugin's message as one line: control characters become spaces, the ends are trimmed.
std::string one_line(std::string_view text) {
  std::string line;
  line.reserve(text.size());
  for (char c : text) line += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  size_t first = line.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  return line.substr(first, line.find_last_not_of(' ') - first + 1);
}

ErrorKind kind_of(ph_failure failure) {
  switch (failure) {
    case PH_FAIL_PROTOCOL:
      return ErrorKind::protocol;
    case PH_FAIL_UPSTREAM:
      return ErrorKind::upstream;
    case PH_FAIL_RATE_LIMITED:
      return ErrorKind::rate_limited;
    case PH_FAIL_AUTH:
      return ErrorKind::auth;
    case PH_FAIL_BLOCKED:
      return ErrorKind::blocked;
    case PH_FAIL_TRUNCATED:
      return ErrorKind::truncated;
    case PH_FAIL_BAD_REQUEST:
      return ErrorKind::bad_request;
    default:
      return ErrorKind::plugin;
  }
}

}  // namespace

PluginSession::PluginSession(const LoadedProvider &provider, std::string model, SessionListener &listener)
    : provider_(provider), abi_(provider.abi), model_(std::move(model)), listener_(listener) {
  events_.struct_size = sizeof events_;
  events_.host_data = this;
  events_.text = &on_text;
  events_.finish = &on_finish;
  events_.warning = &on_warning;
  events_.error = &on_error;
}

PluginSession::~PluginSession() { close(); }

template <class Result, class Call>
Result PluginSession::guarded(const char *function, Result on_throw, Call &&call) {
  Result result = on_throw;
  try {
    result = call();
  } catch (const std::exception &e) {
    plugin_bug(std::string("threw an exception from ") + function + ": " + e.what());
  } catch (...) {
    plugin_bug(std::string("threw an exception from ") + function);
  }
  deliver_text();
  return result;
}

// One call's text events, handed on in one piece: a chunk of a stream often holds dozens of
// events, and each piece of text costs the sink a write.
void PluginSession::deliver_text() {
  if (pending_text_.empty()) return;
  try {
    listener_.session_text(pending_text_);
  } catch (const std::exception &e) {
    fail(ErrorKind::protocol, std::string("the answer could not be delivered: ") + e.what());
  }
  pending_text_.clear();
}

bool PluginSession::open(const ChatSpec &spec) {
  if (!abi_ || !PH_HAS_FIELD(abi_, ph_provider, session_close)) {
    plugin_bug("has an incomplete provider table");
    return false;
  }
  const std::pair<const void *, const char *> required[] = {
      {reinterpret_cast<const void *>(abi_->session_open), "session_open"},
      {reinterpret_cast<const void *>(abi_->next_request), "next_request"},
      {reinterpret_cast<const void *>(abi_->on_response_start), "on_response_start"},
      {reinterpret_cast<const void *>(abi_->on_body), "on_body"},
      {reinterpret_cast<const void *>(abi_->on_response_end), "on_response_end"},
      {reinterpret_cast<const void *>(abi_->session_close), "session_close"}};
  for (const auto &[function, name] : required) {
    if (!function) {
      plugin_bug(std::string("lacks ") + name);
      return false;
    }
  }

  std::vector<ph_message> messages;
  messages.reserve(spec.messages.size());
  for (const Message &m : spec.messages) messages.push_back(ph_message{as_str(m.role), as_str(m.content)});
  ph_chat_request request{};
  request.struct_size = sizeof request;
  request.model = as_str(model_);
  request.messages = messages.data();
  request.message_count = messages.size();
  request.stream = spec.stream ? 1 : 0;
  request.options_json = as_str(spec.options_json.empty() ? std::string_view("{}") : spec.options_json);

  ph_session *opened = nullptr;
  ph_status status = guarded("session_open", ph_status{PH_FAILED},
                             [&] { return abi_->session_open(abi_, &request, &events_, &opened); });
  session_ = opened;  // closed later even when opening failed half-way
  if (status == PH_OK && !opened) plugin_bug("opened a session without returning it");
  return checked_status(status, "session_open", false) == PH_OK;
}

PluginSession::Next PluginSession::next_request(OutgoingRequest &out) {
  if (failure_) return Next::failed;
  ph_http_request request{};
  request.struct_size = sizeof request;
  ph_status status =
      guarded("next_request", ph_status{PH_FAILED}, [&] { return abi_->next_request(session_, &request); });
  switch (checked_status(status, "next_request", true)) {
    case PH_OK:
      return copy_request(request, out) ? Next::request : Next::failed;
    case PH_DONE:
      return Next::done;
    default:
      return Next::failed;
  }
}

std::optional<ph_response_action> PluginSession::response_start(int status, const HttpHeaders &headers) {
  if (failure_) return std::nullopt;
  std::vector<ph_header> views;
  views.reserve(headers.size());
  for (const auto &[name, value] : headers) views.push_back(ph_header{as_str(name), as_str(value)});
  ph_response_action action = guarded("on_response_start", ph_response_action{PH_RESPONSE_HTTP_ERROR}, [&] {
    return abi_->on_response_start(session_, status, views.data(), views.size());
  });
  if (failure_) return std::nullopt;
  if (action != PH_RESPONSE_READ && action != PH_RESPONSE_HTTP_ERROR && action != PH_RESPONSE_DISCARD) {
    plugin_bug("answered on_response_start with an unknown action " + std::to_string(action));
    return std::nullopt;
  }
  return action;
}

ph_status PluginSession::body(std::string_view chunk) {
  if (failure_) return PH_FAILED;
  ph_status status = guarded("on_body", ph_status{PH_FAILED}, [&] { return abi_->on_body(session_, as_str(chunk)); });
  return checked_status(status, "on_body", true);
}

ph_status PluginSession::response_end() {
  if (failure_) return PH_FAILED;
  ph_status status = guarded("on_response_end", ph_status{PH_FAILED}, [&] { return abi_->on_response_end(session_); });
  return checked_status(status, "on_response_end", false);
}

void PluginSession::close() {
  if (!session_) return;
  ph_session *closing = session_;
  session_ = nullptr;
  guarded("session_close", 0, [&] {
    abi_->session_close(closing);
    return 0;
  });
}

ChatError PluginSession::failure() const {
  if (failure_) return *failure_;
  ChatError unknown;
  unknown.kind = ErrorKind::plugin;
  unknown.provider = provider_name();
  unknown.detail = "the plugin failed without saying why";
  return unknown;
}

// A status as the session's outcome: an error event means failure whatever the status says, and
// a failure without an error event is the plugin's fault.
ph_status PluginSession::checked_status(ph_status status, const char *function, bool done_allowed) {
  if (failure_) return PH_FAILED;
  if (status == PH_OK || (status == PH_DONE && done_allowed)) return status;
  if (status == PH_FAILED) {
    plugin_bug(std::string("failed in ") + function + " without reporting an error");
  } else {
    plugin_bug(std::string("returned the unexpected status ") + std::to_string(status) + " from " + function);
  }
  return PH_FAILED;
}

bool PluginSession::copy_request(const ph_http_request &in, OutgoingRequest &out) {
  out.method = std::string(view(in.method));
  out.url = std::string(view(in.url));
  if (out.method.empty() || out.url.empty() || has_line_break(out.method) || has_line_break(out.url)) {
    plugin_bug("asked for a request without a valid method and URL");
    return false;
  }
  if ((in.header_count && !in.headers) || (in.body.size && !in.body.data)) {
    plugin_bug("asked for a request with NULL headers or body");
    return false;
  }
  out.headers.clear();
  out.headers.reserve(in.header_count);
  for (size_t i = 0; i < in.header_count; ++i) {
    std::string_view name = view(in.headers[i].name), value = view(in.headers[i].value);
    if (name.empty() || name.find(':') != std::string_view::npos || has_line_break(name) || has_line_break(value)) {
      plugin_bug("asked for a request with a malformed header");
      return false;
    }
    out.headers.emplace_back(name, value);
  }
  out.body = std::string(view(in.body));
  out.timeout_ms = in.timeout_ms;
  out.retry = read_retry_policy(in.retry);
  return true;
}

void PluginSession::fail(ErrorKind kind, std::string_view message) {
  if (failure_) return;  // the first reason is the real one
  ChatError error;
  error.kind = kind;
  error.provider = provider_name();
  std::string line = one_line(message);
  if (line.empty()) line = std::string(to_string(kind));
  // Plugins often name themselves in their messages; the provider is carried apart from the detail.
  const std::string prefix = provider_name() + ":";
  if (line.compare(0, prefix.size(), prefix) == 0) {
    line.erase(0, prefix.size());
    line.erase(0, line.find_first_not_of(' '));
    if (line.empty()) line = std::string(to_string(kind));
  }
  error.detail = std::move(line);
  failure_ = std::move(error);
}

void PluginSession::plugin_bug(std::string_view what) { fail(ErrorKind::plugin, "the plugin " + std::string(what)); }

PluginSession &PluginSession::self(const ph_session_events *events) {
  return *static_cast<PluginSession *>(events->host_data);
}

// The event callbacks run inside the plugin's own functions: nothing may throw back into it.
void PluginSession::on_text(const ph_session_events *events, ph_str text) {
  PluginSession &session = self(events);
  if (session.failure_ || !text.data || !text.size) return;
  try {
    session.pending_text_.append(text.data, text.size);
  } catch (const std::exception &e) {
    session.fail(ErrorKind::protocol, std::string("the answer could not be delivered: ") + e.what());
  }
}

void PluginSession::on_finish(const ph_session_events *events) { self(events).finished_ = true; }

void PluginSession::on_warning(const ph_session_events *events, ph_str message) {
  PluginSession &session = self(events);
  try {
    session.listener_.session_warning(one_line(view(message)));
  } catch (...) {
    // A warning that cannot be shown is not worth failing the answer for.
  }
}

void PluginSession::on_error(const ph_session_events *events, ph_failure failure, ph_str message) {
  try {
    self(events).fail(kind_of(failure), view(message));
  } catch (...) {
    // Out of memory while recording the reason: the status the plugin returns still fails it.
  }
}

}  // namespace provhost::core::detail
