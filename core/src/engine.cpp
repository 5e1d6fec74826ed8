// The request engine: the loop and its mailbox. One thread drives every chat's HTTP transfers on
// libcurl's multi interface; plugin sessions run elsewhere, behind a SessionBackend.
//
// A chat walks its candidates (fallback): for each, a plugin session asks for requests; each
// request is sent in attempts (retries); each attempt is one transfer. Where each concern lives:
//   chat_state.*          a chat's states and its one transition function
//   transfer.*            a transfer's states, libcurl's callbacks (they only record) and options
//   decisions.*           retry, fallback, deadline and failure judgements, as pure functions
//   deadlines.*           every named deadline in one min-heap
//   session_backend.hpp   the interface to plugin sessions; in_process_backend.cpp runs them
//   curl_pool.*           the multi handle and the pool of easy handles, return codes checked
//   engine_errors.*       how errors are built
// Each wake-up: take the mailbox (new chats, cancellations), let libcurl work, hand what it
// recorded to the sessions as one batch, act on the sessions' results, fire due deadlines, and
// poll until the nearest deadline.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <provhost/core/chat.hpp>
#include <provhost/core/http_error.hpp>
#include <provhost/core/retry.hpp>
#include <provhost/core/upstream.hpp>
#include <provhost/framing.hpp>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include "chat_state.hpp"
#include "curl_pool.hpp"
#include "deadlines.hpp"
#include "decisions.hpp"
#include "engine_errors.hpp"
#include "session_backend.hpp"
#include "transfer.hpp"

namespace provhost::core {

using namespace engine;

namespace {

constexpr milliseconds default_total{120'000};
constexpr milliseconds longest_poll{1000};

}  // namespace

struct Engine::Impl {
  // What other threads hand to the loop. `pool` is null once the engine is gone, so that a handle
  // that outlives the engine cancels nothing.
  struct Mailbox {
    std::mutex mutex;
    std::vector<std::shared_ptr<Chat>> incoming;
    std::vector<uint64_t> cancelled;
    bool stop = false;
    const CurlPool *pool = nullptr;

    void wake() {
      if (pool) pool->wake();
    }
  };

  class Handle final : public ChatHandle {
   public:
    Handle(std::weak_ptr<Chat> chat, std::shared_ptr<Mailbox> mailbox)
        : chat_(std::move(chat)), mailbox_(std::move(mailbox)) {}
    void cancel() override {
      std::shared_ptr<Chat> chat = chat_.lock();
      if (!chat || chat->cancel_requested.exchange(true)) return;
      std::lock_guard lock(mailbox_->mutex);
      mailbox_->cancelled.push_back(chat->id);
      mailbox_->wake();
    }

   private:
    std::weak_ptr<Chat> chat_;
    std::shared_ptr<Mailbox> mailbox_;
  };

  const Registry &registry;
  EngineOptions options;
  CurlPool pool;
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();
  std::unique_ptr<SessionBackend> backend;
  std::atomic<uint64_t> next_chat_id{1};
  uint64_t next_id = 1;  // sessions and transfers

  std::unordered_map<uint64_t, std::shared_ptr<Chat>> chats;  // the loop's own, by chat id
  std::unordered_map<SessionId, uint64_t> by_session;         // open sessions (the failed ones too) -> chat id
  std::unordered_map<uint64_t, Transfer *> transfers;         // every transfer in libcurl or settling
  std::unordered_map<uint64_t, std::unique_ptr<Transfer>> draining;
  DeadlineQueue deadlines;
  std::vector<Deadline> due;          // reused on every wake-up
  std::vector<uint64_t> touched;      // transfers whose callbacks ran, filled during perform
  std::vector<uint64_t> touched_now;  // the ones being looked at
  Batch<SessionWork> work;            // for the backend, sent once per wake-up
  Batch<SessionResult> results;       // from the backend
  std::mt19937 random{std::random_device{}()};

  Impl(const Registry &registry, EngineOptions options) : registry(registry), options(std::move(options)) {
    mailbox->pool = &pool;
    backend = make_in_process_backend(registry, [this] { pool.wake(); });
  }

  ~Impl() {
    std::vector<std::shared_ptr<Chat>> never_started;
    {
      std::lock_guard lock(mailbox->mutex);
      never_started.swap(mailbox->incoming);
      mailbox->pool = nullptr;
    }
    std::vector<std::shared_ptr<Chat>> running;
    for (auto &[id, chat] : chats) running.push_back(chat);
    for (auto &chat : running) {
      if (chat->state != ChatState::closing) close_chat(*chat, make_error(ErrorKind::cancelled, "", "cancelled"));
    }
    flush_work();
    backend->shutdown();  // every session is closed before the sinks hear the end
    backend.reset();
    for (auto &chat : running) finish(*chat);
    for (auto &chat : never_started) chat->sink->on_error(make_error(ErrorKind::cancelled, "", "cancelled"));
    for (auto &[id, t] : draining) pool.release(t->easy);
  }

  // ---- the loop -------------------------------------------------------------------------------

  void loop(bool until_idle) {
    for (;;) {
      if (take_mail()) {
        std::lock_guard lock(mailbox->mutex);
        mailbox->stop = false;  // consumed: the next run() runs
        flush_work();
        return;
      }
      if (until_idle && chats.empty()) return;
      if (std::string failure = pool.perform(); !failure.empty()) fail_every_transfer(failure);
      collect_finished();
      look_at_touched();
      take_results();
      fire_deadlines(Clock::now());
      flush_work();
      if (until_idle && chats.empty()) continue;  // look at the mailbox once more before leaving
      TimePoint next = deadlines.next();
      auto wait = next == never ? longest_poll : std::chrono::ceil<milliseconds>(next - Clock::now());
      wait = std::clamp(wait, milliseconds(0), longest_poll);
      if (std::string failure = pool.poll(static_cast<int>(wait.count())); !failure.empty()) {
        fail_every_transfer(failure);
      }
    }
  }

  // Starts the chats that arrived and cancels those asked to; true when the loop should stop.
  bool take_mail() {
    std::vector<std::shared_ptr<Chat>> arrived;
    std::vector<uint64_t> cancelled;
    bool stop = false;
    {
      std::lock_guard lock(mailbox->mutex);
      arrived.swap(mailbox->incoming);
      cancelled.swap(mailbox->cancelled);
      stop = mailbox->stop;
    }
    for (auto &chat : arrived) start(std::move(chat));
    for (uint64_t id : cancelled) {
      auto found = chats.find(id);
      if (found != chats.end() && found->second->state != ChatState::closing) {
        close_chat(*found->second, make_error(ErrorKind::cancelled, "", "cancelled"));
      }
    }
    return stop;
  }

  void flush_work() { backend->submit(work); }

  // libcurl itself failed: no transfer can be trusted to progress, so each fails its chat.
  void fail_every_transfer(const std::string &failure) {
    report_libcurl_failure(failure);
    std::vector<Chat *> affected;
    for (auto &[id, t] : transfers) {
      if (t->chat) affected.push_back(t->chat);
    }
    for (Chat *chat : affected) {
      provider_failed(*chat,
                      make_error(ErrorKind::connection, chat->provider, "the transfer engine failed: " + failure));
    }
  }

  void collect_finished() {
    int queued = 0;
    while (CURLMsg *message = curl_multi_info_read(pool.multi(), &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      Transfer *t = nullptr;
      if (curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &t) != CURLE_OK || !t) continue;
      CURLcode result = message->data.result;
      if (t->state == TransferState::draining) {
        transition(*t, TransferState::finished);
        pool.release(t->easy);
        draining.erase(t->id);
        continue;
      }
      t->curl_done = true;
      t->result = result;
      if (CURLcode code = curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status); code != CURLE_OK) {
        t->result = code;
      }
      // Out of libcurl at once: what comes next is between the engine and the session.
      pool.release(t->easy);
      t->easy = nullptr;
      t->touch();
    }
  }

  // ---- after libcurl worked: hand on what its callbacks recorded --------------------------------

  void look_at_touched() {
    while (!touched.empty()) {
      touched_now.swap(touched);
      for (uint64_t id : touched_now) {
        auto found = transfers.find(id);
        if (found == transfers.end()) continue;
        Transfer &t = *found->second;
        t.touched = false;
        advance(t);
      }
      touched_now.clear();
    }
  }

  // Moves a transfer as far as the facts allow.
  void advance(Transfer &t) {
    Chat &chat = *t.chat;
    arm_transfer_deadlines(t);
    switch (t.state) {
      case TransferState::connecting:
      case TransferState::awaiting_response:
      case TransferState::receiving_headers:
        // Body bytes that came before a failure are still the session's to see.
        if (!t.buffer.empty() || (t.curl_done && t.result == CURLE_OK)) return begin_response(chat, t);
        if (t.curl_done) return transport_failed(chat, t);
        return;
      case TransferState::awaiting_action:
        return;
      case TransferState::reading:
        if (!t.body_in_flight && !t.buffer.empty()) hand_on_body(chat, t);
        if (t.curl_done && !t.body_in_flight && t.buffer.empty()) {
          if (t.result != CURLE_OK) return transport_failed(chat, t);
          transition(t, TransferState::settling);
          post(SessionWork::Kind::response_end, chat);
        }
        return;
      case TransferState::collecting_error: {
        size_t room = error_body_limit - std::min(error_body_limit, t.error_body.size());
        t.error_body.append(t.buffer, 0, std::min(room, t.buffer.size()));
        t.buffer.clear();
        resume(t);
        if (t.error_body.size() >= error_body_limit || t.curl_done) {
          return provider_failed(
              chat, map_http_error(chat.provider, static_cast<int>(t.status), t.response_headers, t.error_body));
        }
        return;
      }
      case TransferState::discarding:
        t.buffer.clear();
        resume(t);
        if (!t.curl_done) return;
        if (t.result != CURLE_OK) return transport_failed(chat, t);
        drop_transfer(chat);
        return ask_next_request(chat);
      default:
        return;
    }
  }

  void arm_transfer_deadlines(Transfer &t) {
    if (!t.first_byte_armed && t.clock.request_sent != never) {
      t.first_byte_armed = true;
      arm(DeadlineKind::first_byte, t);
    }
    if (!t.idle_armed && t.clock.first_byte != never) {
      t.idle_armed = true;
      arm(DeadlineKind::idle, t);
    }
  }

  void arm(DeadlineKind kind, const Transfer &t) {
    deadlines.arm(transfer_deadline(kind, t.clock, options.timeouts), kind, t.id);
  }

  // The response's status and headers are known: retry it, or ask the session what to do with it.
  void begin_response(Chat &chat, Transfer &t) {
    if (t.easy) {
      if (CURLcode code = curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &t.status); code != CURLE_OK) {
        return provider_failed(chat,
                               make_error(ErrorKind::connection, chat.provider,
                                          std::string("cannot read the response status: ") + curl_easy_strerror(code)));
      }
    }
    if (uint32_t flag = retry_flag_for_status(static_cast<int>(t.status))) {
      if (auto wait = retry_wait(chat, flag, find_header(t.response_headers, "retry-after"))) {
        ChatError error = map_http_error(chat.provider, static_cast<int>(t.status), t.response_headers, {});
        drop_transfer(chat);
        return schedule_retry(chat, error, *wait);
      }
    }
    transition(t, TransferState::awaiting_action);
    SessionWork &item = post(SessionWork::Kind::response_start, chat);
    item.status = static_cast<int>(t.status);
    item.headers = t.response_headers;
  }

  void hand_on_body(Chat &chat, Transfer &t) {
    SessionWork &item = post(SessionWork::Kind::body, chat);
    item.bytes.assign(t.buffer);  // a copy: the backend may live in another process one day
    t.buffer.clear();
    t.body_fed = true;
    t.body_in_flight = true;
    resume(t);
  }

  // Lets libcurl deliver again what it held back while the buffer was full.
  void resume(Transfer &t) {
    if (!t.paused || !t.easy) return;
    t.paused = t.clock.paused = false;
    t.clock.last_data = Clock::now();  // the silence while paused was ours
    // A draining transfer that cannot resume ends at its drain deadline.
    if (CURLcode code = curl_easy_pause(t.easy, CURLPAUSE_CONT); code != CURLE_OK && t.chat) {
      provider_failed(*t.chat, make_error(ErrorKind::connection, t.chat->provider,
                                          std::string("cannot resume the transfer: ") + curl_easy_strerror(code)));
    }
  }

  SessionWork &post(SessionWork::Kind kind, const Chat &chat) { return post(kind, chat.session); }
  SessionWork &post(SessionWork::Kind kind, SessionId session) {
    SessionWork &item = work.add();
    item.kind = kind;
    item.session = session;
    return item;
  }

  // ---- the sessions' results ------------------------------------------------------------------

  void take_results() {
    backend->collect(results);
    for (size_t i = 0; i < results.size(); ++i) on_result(results[i]);
    results.clear();
  }

  void on_result(SessionResult &result) {
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
        return ask_next_request(chat);
      case Kind::request:
        chat.request = std::move(result.request);
        return send_request(chat);
      case Kind::no_more_requests:
        if (result.finished) return close_chat(chat, std::nullopt);
        return provider_failed(chat, make_error(ErrorKind::truncated, chat.provider,
                                                "stream truncated: the answer ended before its end marker"));
      case Kind::action:
        if (!t || t->state != TransferState::awaiting_action) return;
        t->action = result.action;
        transition(*t, result.action == PH_RESPONSE_READ         ? TransferState::reading
                       : result.action == PH_RESPONSE_HTTP_ERROR ? TransferState::collecting_error
                                                                 : TransferState::discarding);
        return advance(*t);
      case Kind::body_taken:
        if (!t) return;
        t->body_in_flight = false;
        if (result.answer_complete) return answer_complete(chat);
        return advance(*t);
      case Kind::response_ended:
        drop_transfer(chat);
        return ask_next_request(chat);
      case Kind::failed:
        return provider_failed(chat, result.error);
      case Kind::closed:
        return;
    }
  }

  // The warnings and text one call into the plugin produced, to the sink.
  void deliver(Chat &chat, const SessionResult &result) {
    try {
      for (const std::string &warning : result.warnings) chat.sink->on_warning(chat.provider, warning);
      if (result.text.empty()) return;
      if (!chat.sink_started) {
        chat.sink_started = true;
        chat.sink->on_start(chat.provider, chat.model);
      }
      chat.sink->on_text(result.text);
    } catch (const std::exception &e) {
      provider_failed(chat, make_error(ErrorKind::protocol, chat.provider,
                                       std::string("the answer could not be delivered: ") + e.what()));
    }
  }

  // The session has its whole answer before the response ended: the chat goes on at once, and the
  // rest of the response is drained on its own so that the connection can be reused.
  void answer_complete(Chat &chat) {
    std::unique_ptr<Transfer> rest = std::move(chat.transfer);
    transfers.erase(rest->id);
    if (!rest->easy) {
      transition(*rest, TransferState::finished);
    } else {
      rest->chat = nullptr;
      rest->buffer.clear();
      transition(*rest, TransferState::draining);
      rest->drain_until = Clock::now() + drain_time;
      deadlines.arm(rest->drain_until, DeadlineKind::drain, rest->id);
      resume(*rest);
      uint64_t id = rest->id;
      draining.emplace(id, std::move(rest));
    }
    ask_next_request(chat);
  }

  // ---- deadlines ------------------------------------------------------------------------------

  void fire_deadlines(TimePoint now) {
    deadlines.pop_due(now, due);
    for (const Deadline &deadline : due) fire(deadline, now);
    due.clear();
    // Entries of chats and transfers that are gone are dropped when they come due; when they
    // outnumber the live ones by far, drop them at once.
    size_t live = 4 * (chats.size() + transfers.size() + draining.size()) + 1024;
    if (deadlines.size() > 2 * live) {
      deadlines.compact(
          [&](uint64_t owner) { return chats.count(owner) || transfers.count(owner) || draining.count(owner); });
    }
  }

  void fire(const Deadline &deadline, TimePoint now) {
    switch (deadline.kind) {
      case DeadlineKind::total: {
        auto found = chats.find(deadline.owner);
        if (found == chats.end()) return;
        Chat &chat = *found->second;
        if (chat.state == ChatState::closing) return;
        if (now < chat.deadline) return deadlines.arm(chat.deadline, DeadlineKind::total, chat.id);
        return out_of_time(chat);
      }
      case DeadlineKind::retry_wait: {
        auto found = chats.find(deadline.owner);
        if (found == chats.end()) return;
        Chat &chat = *found->second;
        if (chat.state != ChatState::retry_waiting) return;
        if (now < chat.retry_at) return deadlines.arm(chat.retry_at, DeadlineKind::retry_wait, chat.id);
        return start_attempt(chat);
      }
      case DeadlineKind::drain: {
        auto found = draining.find(deadline.owner);
        if (found == draining.end()) return;
        transition(*found->second, TransferState::finished);
        pool.release(found->second->easy);  // still going: give up on reusing its connection
        draining.erase(found);
        return;
      }
      default: {
        auto found = transfers.find(deadline.owner);
        if (found == transfers.end()) return;
        Transfer &t = *found->second;
        if (t.curl_done) return;
        DeadlineCheck check = check_transfer_deadline(deadline.kind, t.clock, options.timeouts, now);
        if (check.expired) return expire(*t.chat, *check.expired);
        deadlines.arm(check.next, deadline.kind, t.id);
      }
    }
  }

  // One attempt ran out of time; timeouts before the answer began may be retried.
  void expire(Chat &chat, const Expiry &expiry) {
    bool body_fed = chat.transfer->body_fed;
    drop_transfer(chat);
    attempt_failed(chat, make_error(expiry.kind, chat.provider, expiry.what), expiry.retry_on, body_fed);
  }

  void out_of_time(Chat &chat) {
    provider_failed(
        chat, make_error(
                  ErrorKind::timeout, chat.provider,
                  "timed out after " + seconds_text(std::chrono::ceil<milliseconds>(chat.deadline - chat.started_at))));
  }

  // ---- a chat from start to end ---------------------------------------------------------------

  void start(std::shared_ptr<Chat> pointer) {
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
    ResolveResult resolved = registry.resolve(chat.spec.provider, chat.spec.model);
    if (resolved.candidates.empty()) {
      ErrorKind kind = resolved.kind == ResolveResult::Kind::unknown_provider ? ErrorKind::unknown_provider
                                                                              : ErrorKind::model_not_found;
      return close_chat(chat, make_error(kind, "", resolved.error.empty() ? "no provider found" : resolved.error));
    }
    chat.candidates = std::move(resolved.candidates);
    try_next_candidate(chat);
  }

  void try_next_candidate(Chat &chat) {
    const Resolution &candidate = chat.candidates[chat.next_candidate++];
    chat.provider = candidate.provider->meta.name;
    chat.model = candidate.model;
    chat.session = next_id++;
    by_session.emplace(chat.session, chat.id);
    transition(chat, ChatState::opening);
    SessionWork &item = post(SessionWork::Kind::open, chat);
    item.provider = chat.provider;
    item.model = chat.model;
    item.spec = chat.spec;
    chat.origin.clear();
    if (std::string upstream = find_upstream(chat.provider, options.upstreams); !upstream.empty()) {
      std::string error;
      std::optional<std::string> origin = parse_origin(upstream, error);
      if (!origin) return provider_failed(chat, make_error(ErrorKind::bad_request, chat.provider, error));
      chat.origin = std::move(*origin);
    }
  }

  void ask_next_request(Chat &chat) {
    transition(chat, ChatState::requesting);
    post(SessionWork::Kind::next_request, chat);
  }

  void send_request(Chat &chat) {
    if (!options.timeouts.total_ms) {
      TimePoint longer = std::max(chat.deadline, chat.started_at + milliseconds(chat.request.timeout_ms));
      if (longer != chat.deadline) {
        chat.deadline = longer;
        deadlines.arm(chat.deadline, DeadlineKind::total, chat.id);
      }
    }
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

  void start_attempt(Chat &chat) {
    ++chat.attempt;
    chat.retry_at = never;
    CURL *easy = pool.take();
    if (!easy) {
      return provider_failed(
          chat, make_error(ErrorKind::connection, chat.provider, "cannot start a transfer (out of memory)"));
    }
    chat.transfer = std::make_unique<Transfer>(next_id++, chat, easy, touched);
    Transfer &t = *chat.transfer;
    t.clock.attempt_timeout_ms = chat.request.timeout_ms;
    transfers.emplace(t.id, &t);
    transition(chat, ChatState::transferring);
    std::string refused = configure_transfer(t, chat.request, options.proxy, options.timeouts.connect_ms);
    if (refused.empty()) refused = pool.add(easy);
    if (!refused.empty()) {
      return provider_failed(chat,
                             make_error(ErrorKind::connection, chat.provider, "cannot start a transfer: " + refused));
    }
    arm(DeadlineKind::connect, t);
    arm(DeadlineKind::attempt, t);
  }

  // ---- outcomes -------------------------------------------------------------------------------

  void transport_failed(Chat &chat, Transfer &t) {
    TransportFacts facts;
    facts.body_fed = t.body_fed;
    facts.response_started = t.state != TransferState::connecting && t.state != TransferState::awaiting_response &&
                             t.state != TransferState::receiving_headers;
    facts.action = t.action;
    facts.timed_out = t.result == CURLE_OPERATION_TIMEDOUT;
    facts.reason = t.error_buffer[0] ? std::string(trim(t.error_buffer)) : curl_easy_strerror(t.result);
    facts.connect_ms = options.timeouts.connect_ms;
    TransportDecision decision = classify_transport_failure(facts);
    switch (decision.verdict) {
      case TransportVerdict::truncated:
        return provider_failed(chat, make_error(decision.kind, chat.provider, decision.what));
      case TransportVerdict::http_error:
        return provider_failed(
            chat, map_http_error(chat.provider, static_cast<int>(t.status), t.response_headers, t.error_body));
      case TransportVerdict::retryable: {
        bool body_fed = t.body_fed;
        drop_transfer(chat);
        return attempt_failed(chat, make_error(decision.kind, chat.provider, decision.what), decision.retry_on,
                              body_fed);
      }
    }
  }

  std::optional<milliseconds> retry_wait(Chat &chat, uint32_t flag, std::optional<std::string_view> retry_after,
                                         bool body_fed = false) {
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

  void attempt_failed(Chat &chat, const ChatError &error, uint32_t flag, bool body_fed) {
    if (auto wait = retry_wait(chat, flag, std::nullopt, body_fed)) return schedule_retry(chat, error, *wait);
    provider_failed(chat, error);
  }

  void schedule_retry(Chat &chat, const ChatError &error, milliseconds wait) {
    transition(chat, ChatState::retry_waiting);
    chat.retry_at = Clock::now() + wait;
    deadlines.arm(chat.retry_at, DeadlineKind::retry_wait, chat.id);
    chat.sink->on_warning(error.provider, std::string(without_provider(error)) + "; retrying in " + seconds_text(wait) +
                                              " (attempt " + std::to_string(chat.attempt + 1) + " of " +
                                              std::to_string(chat.request.retry.max_attempts) + ")");
  }

  // The current provider cannot answer: try the next one while nothing has been said, else end.
  void provider_failed(Chat &chat, const ChatError &error) {
    if (chat.state == ChatState::closing) return;
    drop_transfer(chat);
    chat.retry_at = never;
    chat.failures.push_back(error);
    FallbackFacts facts{chat.sink_started, chat.cancel_requested, chat.deadline, chat.next_candidate,
                        chat.candidates.size()};
    if (!may_fall_back(facts, Clock::now())) return close_chat(chat, final_error(chat.failures));
    if (chat.session) post(SessionWork::Kind::close, chat);  // its `closed` finds a chat that moved on
    chat.session = 0;
    chat.sink->on_warning(error.provider, std::string(without_provider(error)) + "; trying " +
                                              chat.candidates[chat.next_candidate].provider->meta.name);
    try_next_candidate(chat);
  }

  // Ends the chat: closes its session, then tells the sink (finish()). No outcome = the answer.
  void close_chat(Chat &chat, std::optional<ChatError> outcome) {
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

  void finish(Chat &chat) {
    if (chat.state == ChatState::done) return;
    transition(chat, ChatState::done);
    std::shared_ptr<Chat> keep = chats.count(chat.id) ? chats[chat.id] : nullptr;
    chats.erase(chat.id);
    if (chat.outcome) return chat.sink->on_error(*chat.outcome);
    if (!chat.sink_started) chat.sink->on_start(chat.provider, chat.model);
    chat.sink->on_done();
  }

  void drop_transfer(Chat &chat) {
    if (!chat.transfer) return;
    Transfer &t = *chat.transfer;
    if (t.easy) pool.release(t.easy);
    transition(t, TransferState::finished);
    transfers.erase(t.id);
    chat.transfer.reset();
  }
};

Engine::Engine(const Registry &registry, EngineOptions options)
    : impl_(std::make_unique<Impl>(registry, std::move(options))) {}

Engine::~Engine() = default;

std::shared_ptr<ChatHandle> Engine::submit(ChatSpec spec, std::shared_ptr<ChatSink> sink) {
  if (!sink) throw std::invalid_argument("Engine::submit needs a sink");
  auto chat = std::make_shared<Chat>(impl_->next_chat_id++, std::move(spec), std::move(sink));
  auto handle = std::make_shared<Impl::Handle>(chat, impl_->mailbox);
  std::lock_guard lock(impl_->mailbox->mutex);
  impl_->mailbox->incoming.push_back(chat);
  impl_->mailbox->wake();
  return handle;
}

void Engine::run() { impl_->loop(false); }

void Engine::run_until_idle() { impl_->loop(true); }

void Engine::stop() {
  std::lock_guard lock(impl_->mailbox->mutex);
  impl_->mailbox->stop = true;
  impl_->mailbox->wake();
}

}  // namespace provhost::core
