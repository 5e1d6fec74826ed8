// The sessions' results (session_backend.hpp), one batch per wake-up: text and warnings to the
// sink, then the step each result allows.
#include <algorithm>
#include <provhost/core/error.hpp>
#include <provhost/core/http_error.hpp>
#include <provhost/core/retry.hpp>
#include <provhost/core/upstream.hpp>
#include <provhost/framing.hpp>
#include <provhost/text.hpp>

#include "engine_impl.hpp"
#include "request_checks.hpp"

namespace provhost::core {

void Engine::Impl::take_results() {
  backend->collect(results);
  for (size_t i = 0; i < results.size(); ++i) on_result(results[i]);
  results.clear();
}

void Engine::Impl::on_result(SessionResult &result) {
  using Kind = SessionResult::Kind;
  auto found = by_session.find(result.session);
  if (found == by_session.end()) return;
  auto owner = chats.find(found->second);
  if (result.kind == Kind::closed) by_session.erase(found);
  if (owner == chats.end()) return;
  Chat &chat = *owner->second;
  if (result.kind == Kind::closed) {
    if (chat.state == ChatState::closing && chat.session == result.session) finish(chat);
    return;
  }
  // Results of a session the chat has left (fallback, an end) come too late to matter.
  if (chat.session != result.session || chat.state == ChatState::closing) return;
  deliver(chat, result);
  if (chat.state == ChatState::closing || chat.session != result.session) return;
  Transfer *t = chat.transfer.get();
  switch (result.kind) {
    case Kind::opened:
      return transition(chat, ChatState::requesting);  // its first request was asked for already
    case Kind::request:
      if (chat.state != ChatState::requesting) return;  // an attempt failed meanwhile: its retry goes on
      if (++chat.requests > options.limits.max_requests) {
        return provider_failed(
            chat, make_error(ErrorKind::plugin, chat.provider,
                             "the plugin asked for more than " + std::to_string(options.limits.max_requests) +
                                 " requests in one chat (--max-requests)"));
      }
      if (std::optional<std::string> defect = check_request(result.request, options.limits, &known_urls))
        return provider_failed(chat, make_error(ErrorKind::plugin, chat.provider, "the plugin " + *defect));
      chat.request = std::move(result.request);
      return send_request(chat);
    case Kind::no_more_requests:
      // The backend closed the session with this answer: the chat ends without waiting for it.
      by_session.erase(result.session);
      chat.session = 0;
      if (result.finished) return close_chat(chat, std::nullopt);
      return provider_failed(chat, make_error(ErrorKind::truncated, chat.provider,
                                              "stream truncated: the answer ended before its end marker"));
    case Kind::action:
      if (!t || t->state != TransferState::awaiting_action) return;
      t->action = result.action;
      if (result.action == PH_RESPONSE_READ) {
        t->body_fed = t->bodies_in_flight > 0;  // the first bytes went with the response's start
        transition(*t, TransferState::reading);
      } else {
        t->bodies_in_flight = 0;
        if (result.action == PH_RESPONSE_HTTP_ERROR) t->error_body.assign(result.bytes, 0, error_body_limit);
        transition(
            *t, result.action == PH_RESPONSE_HTTP_ERROR ? TransferState::collecting_error : TransferState::discarding);
      }
      return advance(*t);
    case Kind::body_taken:
      if (!t) return;
      if (t->bodies_in_flight > 0) --t->bodies_in_flight;
      if (result.answer_complete) return answer_complete(chat);
      return advance(*t);
    case Kind::response_ended:
      drop_transfer(chat);
      return transition(chat, ChatState::requesting);  // the backend asks for the next request itself
    case Kind::failed:
      return provider_failed(chat, result.error);
    case Kind::closed:
      return;
  }
}

// The warnings, text, tool calls and upstream report one call into the plugin produced, to the sink. Whatever ran the
// plugin, this is where its words enter the host: warnings become one line, text becomes UTF-8 (an ill-formed sequence
// is shown as U+FFFD, with one warning per chat), so that neither a terminal nor serve's JSON ever receives bytes that
// are not; and the answer's size is capped.
void Engine::Impl::deliver(Chat &chat, SessionResult &result) {
  try {
    for (const std::string &warning : result.warnings) chat.sink->on_warning(chat.provider, one_line(warning));
    // Each step may fail the provider (the answer's size): what follows is then not this session's.
    auto still_ours = [&] { return chat.state != ChatState::closing && chat.session == result.session; };
    if (!result.text.empty()) deliver_text(chat, result.text, result.text_repaired);
    for (ToolCallDelta &call : result.tool_calls) {
      if (!still_ours()) return;
      deliver_tool_call(chat, call);
    }
    if (result.report && still_ours()) chat.sink->on_upstream_report(*result.report);
  } catch (const std::exception &e) {
    provider_failed(chat, make_error(ErrorKind::protocol, chat.provider,
                                     std::string("the answer could not be delivered: ") + e.what()));
  }
}

// Counts `bytes` more of the answer against --max-answer-bytes; false (the chat failed) past it.
bool Engine::Impl::count_answer_bytes(Chat &chat, size_t bytes) {
  if (bytes > options.limits.max_answer_bytes - std::min(chat.answer_bytes, options.limits.max_answer_bytes)) {
    provider_failed(
        chat, make_error(ErrorKind::protocol, chat.provider,
                         "the answer is longer than the limit of " + std::to_string(options.limits.max_answer_bytes) +
                             " bytes (--max-answer-bytes)"));
    return false;
  }
  chat.answer_bytes += bytes;
  if (!chat.sink_started) {
    chat.sink_started = true;
    chat.sink->on_start(chat.provider, chat.model);
  }
  return true;
}

// A tool call's strings are the plugin's, like its text: repaired to UTF-8 and counted in the answer's size, each
// piece with what it costs beside its strings, so that --max-answer-bytes bounds a flood of empty pieces too.
void Engine::Impl::deliver_tool_call(Chat &chat, ToolCallDelta &call) {
  constexpr size_t piece_overhead = 64;
  for (std::string *field : {&call.id, &call.name, &call.arguments}) {
    if (!is_utf8(*field)) *field = repair_utf8(*field);
  }
  if (!count_answer_bytes(chat, piece_overhead + call.id.size() + call.name.size() + call.arguments.size())) return;
  chat.sink->on_tool_call(call);
}

// `repaired`: the session repaired an event already, which started inside a character (see
// PluginSession::repair_split_text); the text is checked all the same, whatever ran the plugin.
void Engine::Impl::deliver_text(Chat &chat, std::string &text, bool repaired) {
  const bool utf8 = is_utf8(text);
  if (!utf8) text = repair_utf8(text);
  if (!utf8 || repaired) {
    if (!chat.warned_not_utf8) {
      chat.warned_not_utf8 = true;
      chat.sink->on_warning(chat.provider, "the plugin sent text that is not UTF-8; shown as U+FFFD");
    }
  }
  if (!count_answer_bytes(chat, text.size())) return;
  if (chat.recording) chat.recording->text += text;
  chat.sink->on_text(text);
}

}  // namespace provhost::core
