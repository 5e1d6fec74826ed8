#include "engine_session.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <provhost/text.hpp>
#include <stdexcept>
#include <vector>

namespace provhost::core::detail {
namespace {

// A plugin's message as one line of UTF-8 (see provhost::one_line), its ends trimmed.
std::string message_line(std::string_view text) { return provhost::one_line(trim(text)); }

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

std::string passthrough_for(const ProviderMeta &provider, std::string_view passthrough_json) {
  const bool tools = provider.has_capability(PH_CAP_PARAM_TOOLS);
  const bool response_format = provider.has_capability(PH_CAP_PARAM_RESPONSE_FORMAT);
  if (passthrough_json.empty() || (!tools && !response_format)) return "{}";
  rapidjson::Document all;
  all.Parse<rapidjson::kParseIterativeFlag>(passthrough_json.data(), passthrough_json.size());
  if (all.HasParseError() || !all.IsObject()) return "{}";
  rapidjson::Document kept(rapidjson::kObjectType);
  for (const char *field : {"tools", "tool_choice", "parallel_tool_calls", "messages", "response_format"}) {
    const bool declared = std::string_view(field) == "response_format" ? response_format : tools;
    auto found = all.FindMember(field);
    if (!declared || found == all.MemberEnd()) continue;
    kept.AddMember(rapidjson::Value(field, kept.GetAllocator()), rapidjson::Value(found->value, kept.GetAllocator()),
                   kept.GetAllocator());
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  kept.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

void EventText::grow(size_t more) {
  if (more > SIZE_MAX / 2 - size_) throw std::length_error("text events too long");
  const size_t capacity = std::max({size_ + more, 2 * capacity_, size_t{256}});
  auto data = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ > 0) std::memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

PluginSession::PluginSession(const LoadedProvider &provider, std::string model, SessionListener &listener)
    : provider_(provider), abi_(provider.abi), model_(std::move(model)), listener_(listener) {}

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
    listener_.session_text(pending_text_.view(), pending_repaired_);
  } catch (const std::exception &e) {
    fail(ErrorKind::protocol, std::string("the answer could not be delivered: ") + e.what());
  }
  pending_text_.clear();
  pending_checked_ = 0;
  pending_repaired_ = false;
}

bool PluginSession::open(const ChatSpec &spec) {
  if (!abi_ || !PH_HAS_FIELD(abi_, ph_provider, session_close)) {
    plugin_bug("has an incomplete provider table");
    return false;
  }
  if (const char *missing = missing_session_function(*abi_)) {
    plugin_bug(std::string("lacks ") + missing);
    return false;
  }
  raw_.emplace(*abi_, static_cast<SessionEventListener &>(*this));

  std::vector<ph_message> messages;
  messages.reserve(spec.messages.size());
  for (const Message &m : spec.messages) messages.push_back(ph_message{str(m.role), str(m.content)});
  std::string_view options = spec.options_json.empty() ? std::string_view("{}") : spec.options_json;
  const std::string passthrough = passthrough_for(provider_.meta, spec.passthrough_json);
  ph_status status = guarded("session_open", ph_status{PH_FAILED},
                             [&] { return raw_->open(model_, messages, spec.stream, options, passthrough); });
  if (status == PH_OK && !raw_->has_session()) plugin_bug("opened a session without returning it");
  return checked_status(status, "session_open", false) == PH_OK;
}

PluginSession::Next PluginSession::next_request(OutgoingRequest &out) {
  if (failure_) return Next::failed;
  ph_http_request request;
  ph_status status = guarded("next_request", ph_status{PH_FAILED}, [&] { return raw_->next_request(request); });
  switch (checked_status(status, "next_request", true)) {
    case PH_OK:
      if (std::optional<std::string_view> defect = copy_request(request, out)) {
        plugin_bug(*defect);
        return Next::failed;
      }
      out.retry = read_retry_policy(request.retry);
      return Next::request;
    case PH_DONE:
      return Next::done;
    default:
      return Next::failed;
  }
}

std::optional<ph_response_action> PluginSession::response_start(int status, const HttpHeaders &headers) {
  if (failure_) return std::nullopt;
  ph_response_action action = guarded("on_response_start", ph_response_action{PH_RESPONSE_HTTP_ERROR},
                                      [&] { return raw_->response_start(status, headers); });
  if (failure_) return std::nullopt;
  if (action != PH_RESPONSE_READ && action != PH_RESPONSE_HTTP_ERROR && action != PH_RESPONSE_DISCARD) {
    plugin_bug("answered on_response_start with an unknown action " + std::to_string(action));
    return std::nullopt;
  }
  return action;
}

ph_status PluginSession::body(std::string_view chunk) {
  if (failure_) return PH_FAILED;
  ph_status status = guarded("on_body", ph_status{PH_FAILED}, [&] { return raw_->body(chunk); });
  return checked_status(status, "on_body", true);
}

ph_status PluginSession::response_end() {
  if (failure_) return PH_FAILED;
  ph_status status = guarded("on_response_end", ph_status{PH_FAILED}, [&] { return raw_->response_end(); });
  return checked_status(status, "on_response_end", false);
}

void PluginSession::close() {
  if (!raw_ || !raw_->has_session()) return;
  guarded("session_close", 0, [&] {
    raw_->close();
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

void PluginSession::fail(ErrorKind kind, std::string_view message) {
  if (failure_) return;  // the first reason is the real one
  ChatError error;
  error.kind = kind;
  error.provider = provider_name();
  std::string line = message_line(message);
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

// The event callbacks run inside the plugin's own functions: nothing may throw back into it.
void PluginSession::on_text(std::string_view text) noexcept {
  if (failure_ || text.empty()) return;
  if (finished_) {
    if (!warned_after_finish_) {
      warned_after_finish_ = true;
      on_warning("the plugin sent text after the end of its answer; dropped");
    }
    return;
  }
  try {
    if ((static_cast<unsigned char>(text.front()) & 0xC0) == 0x80) [[unlikely]] {
      repair_split_text(text);
    } else {
      pending_text_.append(text);
    }
  } catch (const std::exception &e) {
    fail(ErrorKind::protocol, std::string("the answer could not be delivered: ") + e.what());
  }
}

// Each text event must be UTF-8 on its own (provhost.h), which the trust boundary checks of a call's events
// together (Engine::Impl::deliver_text): that is the same check, one pass per call instead of a call per event,
// but for a character split between two events, which only an event that starts with a continuation byte can
// complete. Such an event, and the text since the last one (which may end with the character's first bytes), are
// repaired here, each on its own, where the events' boundaries are still known; the boundary warns.
void PluginSession::repair_split_text(std::string_view text) {
  const std::string before = repair_utf8(pending_text_.view().substr(pending_checked_));
  const std::string event = repair_utf8(text);
  EventText repaired;
  repaired.append(pending_text_.view().substr(0, pending_checked_));
  repaired.append(before);
  repaired.append(event);
  pending_text_ = std::move(repaired);
  pending_checked_ = pending_text_.view().size();
  pending_repaired_ = true;
}

void PluginSession::on_finish() noexcept { finished_ = true; }

void PluginSession::on_warning(std::string_view message) noexcept {
  try {
    listener_.session_warning(message_line(message));
  } catch (...) {
    // A warning that cannot be shown is not worth failing the answer for.
  }
}

void PluginSession::on_error(ph_failure failure, std::string_view message) noexcept {
  try {
    fail(kind_of(failure), message);
  } catch (...) {
    // Out of memory while recording the reason: the status the plugin returns still fails it.
  }
}

void PluginSession::on_answer_info(const UpstreamReport &report) noexcept {
  if (failure_) return;
  try {
    listener_.session_report(report);
  } catch (...) {
    // Without the upstream's counts the host estimates them: nothing is lost but precision.
  }
}

void PluginSession::on_tool_call(const ToolCallDelta &call) noexcept {
  if (failure_ || finished_) return;
  try {
    listener_.session_tool_call(call);
  } catch (const std::exception &e) {
    fail(ErrorKind::protocol, std::string("a tool call could not be delivered: ") + e.what());
  }
}

}  // namespace provhost::core::detail
