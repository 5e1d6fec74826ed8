// A chat from start to end: resolution, one provider after the other (fallback), the requests of
// each, attempts and retries, and the end, told to the sink once the session is closed.
#include <algorithm>
#include <provhost/core/error.hpp>
#include <provhost/core/http_error.hpp>
#include <provhost/core/retry.hpp>
#include <provhost/core/upstream.hpp>
#include <provhost/framing.hpp>
#include <provhost/text.hpp>

#include "engine_impl.hpp"

namespace provhost::core {

void Engine::Impl::start(std::shared_ptr<Chat> pointer) {
  Chat &chat = *pointer;
  chats.emplace(chat.id, std::move(pointer));
  chat.started_at = Clock::now();
  chat.deadline =
      chat.started_at + (options.timeouts.total_ms ? milliseconds(options.timeouts.total_ms) : default_total);
  deadlines.arm(chat.deadline, DeadlineKind::total, chat.id);
  if (chat.cancel_requested) return close_chat(chat, make_error(ErrorKind::cancelled, "", "cancelled"));
  if (chat.spec.messages.empty()) {
    return close_chat(chat, make_error(ErrorKind::bad_request, "", "no messages to send"));
  }
  ResolveResult resolved =
      keep_declaring(registry.resolve(chat.spec.provider, chat.spec.model), chat.spec.required_capabilities);
  if (resolved.candidates.empty()) {
    ErrorKind kind = resolved.kind == ResolveResult::Kind::unknown_provider   ? ErrorKind::unknown_provider
                     : resolved.kind == ResolveResult::Kind::lacks_capability ? ErrorKind::bad_request
                                                                              : ErrorKind::model_not_found;
    return close_chat(chat, make_error(kind, "", resolved.error.empty() ? "no provider found" : resolved.error));
  }
  chat.candidates = std::move(resolved.candidates);
  try_next_candidate(chat);
}

const Result<std::string> &Engine::Impl::origin_of(const std::string &provider) {
  auto known = origins.find(provider);
  if (known != origins.end()) return known->second;
  const std::string upstream = find_upstream(provider, options.upstreams);
  return origins.emplace(provider, upstream.empty() ? Result<std::string>(std::string()) : parse_origin(upstream))
      .first->second;
}

void Engine::Impl::try_next_candidate(Chat &chat) {
  const Resolution &candidate = chat.candidates[chat.next_candidate++];
  chat.provider = candidate.provider->meta.name;
  chat.model = candidate.model;
  const Result<std::string> &origin = origin_of(chat.provider);
  if (!origin) return provider_failed(chat, make_error(ErrorKind::bad_request, chat.provider, origin.error().detail));
  chat.origin = *origin;
  chat.session = next_id++;
  by_session.emplace(chat.session, chat.id);
  transition(chat, ChatState::opening);
  SessionWork &item = post(SessionWork::Kind::open, chat);
  item.provider = chat.provider;
  item.plugin = candidate.provider;  // the version this chat resolved, whatever the registry holds by now
  item.model = chat.model;
  item.spec = chat.spec;
  // In the same batch: the first request comes back with the opening, one round trip instead of
  // two (a session that failed to open skips it).
  post(SessionWork::Kind::next_request, chat);
}

void Engine::Impl::ask_next_request(Chat &chat) {
  transition(chat, ChatState::requesting);
  post(SessionWork::Kind::next_request, chat);
}

// A plugin's timeout_ms bounds one attempt (the attempt deadline) and never moves the chat's own:
// the user's total is the most a chat may take, whatever a plugin asks for.
void Engine::Impl::send_request(Chat &chat) {
  if (!chat.origin.empty()) {
    std::optional<std::string> url = replace_origin(chat.request.url, chat.origin);
    if (!url) {
      return provider_failed(
          chat, make_error(ErrorKind::plugin, chat.provider, "the plugin asked for a URL that is not absolute"));
    }
    chat.request.url = std::move(*url);
    // libcurl derives Host from the new URL; the provider's own Origin and Referer stay.
    std::erase_if(chat.request.headers, [](const auto &header) { return same_header_name(header.first, "host"); });
  }
  chat.attempt = 0;
  start_attempt(chat);
}

std::optional<milliseconds> Engine::Impl::retry_wait(Chat &chat, uint32_t flag,
                                                     std::optional<std::string_view> retry_after, bool body_fed) {
  RetryFacts facts;
  facts.policy = chat.request.retry;
  facts.attempt = chat.attempt;
  facts.failure = flag;
  facts.body_fed = body_fed || (chat.transfer && chat.transfer->body_fed);
  facts.answering = chat.sink_started;
  facts.cancelled = chat.cancel_requested;
  facts.deadline = chat.deadline;
  facts.backoff_scale = options.backoff_scale;
  facts.jitter = std::uniform_real_distribution<double>(-1.0, 1.0)(random);
  facts.retry_after = retry_after;
  facts.wall_now = std::chrono::system_clock::now();
  return decide_retry(facts, Clock::now());
}

void Engine::Impl::attempt_failed(Chat &chat, const ChatError &error, uint32_t flag, bool body_fed) {
  if (auto wait = retry_wait(chat, flag, std::nullopt, body_fed)) return schedule_retry(chat, error, *wait);
  provider_failed(chat, error);
}

void Engine::Impl::schedule_retry(Chat &chat, const ChatError &error, milliseconds wait) {
  transition(chat, ChatState::retry_waiting);
  chat.retry_at = Clock::now() + wait;
  deadlines.arm(chat.retry_at, DeadlineKind::retry_wait, chat.id);
  chat.sink->on_setback({Setback::Kind::retry, error.provider, error.kind});
  chat.sink->on_warning(error.provider, error.detail + "; retrying in " + seconds_text(wait) + " (attempt " +
                                            std::to_string(chat.attempt + 1) + " of " +
                                            std::to_string(chat.request.retry.max_attempts) + ")");
}

// The current provider cannot answer: try the next one while nothing has been said, else end.
void Engine::Impl::provider_failed(Chat &chat, const ChatError &failure) {
  if (chat.state == ChatState::closing) return;
  drop_transfer(chat);
  chat.retry_at = never;
  // Details quote plugins and upstreams; whatever reported them, they reach the user as one line.
  ChatError &error = chat.failures.emplace_back(failure);
  error.detail = one_line(error.detail);
  FallbackFacts facts{chat.sink_started, chat.cancel_requested, chat.deadline, chat.next_candidate,
                      chat.candidates.size()};
  if (!may_fall_back(facts, Clock::now())) return close_chat(chat, final_error(chat.failures));
  if (chat.session) post(SessionWork::Kind::close, chat);  // its `closed` finds a chat that moved on
  chat.session = 0;
  chat.sink->on_setback({Setback::Kind::fallback, error.provider, error.kind});
  chat.sink->on_warning(error.provider,
                        error.detail + "; trying " + chat.candidates[chat.next_candidate].provider->meta.name);
  try_next_candidate(chat);
}

// Ends the chat: closes its session, then tells the sink (finish()). No outcome = the answer.
void Engine::Impl::close_chat(Chat &chat, std::optional<ChatError> outcome) {
  drop_transfer(chat);
  chat.retry_at = never;
  chat.outcome = std::move(outcome);
  transition(chat, ChatState::closing);
  if (chat.session) {
    post(SessionWork::Kind::close, chat);
  } else {
    finish(chat);
  }
}

void Engine::Impl::finish(Chat &chat) {
  if (chat.state == ChatState::done) return;
  transition(chat, ChatState::done);
  std::shared_ptr<Chat> keep = chats.count(chat.id) ? chats[chat.id] : nullptr;
  chats.erase(chat.id);
  if (chat.recording) {
    chat.recording->provider = chat.provider;
    chat.recording->model = chat.model;
    chat.recording->error = chat.outcome;
    options.recorder->record(*chat.recording);
  }
  if (chat.outcome) return chat.sink->on_error(*chat.outcome);
  if (!chat.sink_started) chat.sink->on_start(chat.provider, chat.model);
  chat.sink->on_done();
}

}  // namespace provhost::core
