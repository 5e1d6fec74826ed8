// Transfers: each attempt's libcurl handle, and what its callbacks recorded handed on to the
// session after curl_multi_perform returns (see transfer.hpp for the states).
#include <algorithm>
#include <provhost/core/error.hpp>
#include <provhost/core/http_error.hpp>
#include <provhost/core/retry.hpp>
#include <provhost/core/upstream.hpp>
#include <provhost/framing.hpp>

#include "engine_impl.hpp"

namespace provhost::core {
namespace {

// Body bytes travel as plain data: the buffers trade places instead of being copied, and the
// transfer goes on with the item's spent buffer, its capacity kept, so that neither side allocates
// or copies per batch. A spent buffer far larger than the transfer may now fill (it grew while
// fewer transfers ran) is let go, so that an idle stream does not keep it; one up to twice the
// limit is what appending to a full buffer leaves, and is kept.
void hand_over(std::string &buffer, std::string &bytes, size_t limit) {
  bytes.swap(buffer);
  buffer.clear();
  if (buffer.capacity() > 2 * limit + CURL_MAX_WRITE_SIZE) std::string().swap(buffer);
}

}  // namespace

void Engine::Impl::collect_finished() {
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

void Engine::Impl::look_at_touched() {
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
void Engine::Impl::advance(Transfer &t) {
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
      // Held, the buffer fills and libcurl pauses the transfer (transfer.cpp's on_write).
      if (!chat.output_held && may_hand_on_body(t.buffer.size(), t.bodies_in_flight)) hand_on_body(chat, t);
      if (t.curl_done && t.bodies_in_flight == 0 && t.buffer.empty()) {
        if (t.result != CURLE_OK) return transport_failed(chat, t);
        transition(t, TransferState::settling);
        if (!t.end_handed_on) post(SessionWork::Kind::response_end, chat);
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

void Engine::Impl::arm_transfer_deadlines(Transfer &t) {
  if (!t.first_byte_armed && t.clock.request_sent != never) {
    t.first_byte_armed = true;
    arm(DeadlineKind::first_byte, t);
  }
  if (!t.idle_armed && t.clock.first_byte != never) {
    t.idle_armed = true;
    arm(DeadlineKind::idle, t);
  }
}

void Engine::Impl::arm(DeadlineKind kind, const Transfer &t) {
  deadlines.arm(transfer_deadline(kind, t.clock, options.timeouts), kind, t.id);
}

// The response's status and headers are known: retry it, or ask the session what to do with it.
void Engine::Impl::begin_response(Chat &chat, Transfer &t) {
  if (t.easy) {
    if (CURLcode code = curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &t.status); code != CURLE_OK) {
      return provider_failed(chat,
                             make_error(ErrorKind::connection, chat.provider,
                                        std::string("cannot read the response status: ") + curl_easy_strerror(code)));
    }
  }
  if (t.recording) {
    t.recording->status = static_cast<int>(t.status);
    t.recording->response_headers = t.response_headers;
    t.recording->wait_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - t.recording->started_steady).count();
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
  if (!t.buffer.empty()) {
    hand_over(t.buffer, item.bytes, buffer_limit);
    t.bodies_in_flight = 1;  // until the session says what they are
    resume(t);
  }
  // The whole response is here: its end goes in the same batch, saving a round trip. The session
  // takes it only when it reads the response (session_runner.cpp); otherwise the engine goes on
  // as it would have.
  if (t.curl_done && t.result == CURLE_OK && t.buffer.empty()) {
    post(SessionWork::Kind::response_end, chat);
    t.end_handed_on = true;
  }
}

void Engine::Impl::hand_on_body(Chat &chat, Transfer &t) {
  SessionWork &item = post(SessionWork::Kind::body, chat);
  hand_over(t.buffer, item.bytes, buffer_limit);
  t.body_fed = true;
  ++t.bodies_in_flight;
  resume(t);
}

// Lets libcurl deliver again what it held back while the buffer was full.
void Engine::Impl::resume(Transfer &t) {
  if (!t.paused || !t.easy) return;
  t.paused = t.clock.paused = false;
  t.clock.last_data = Clock::now();  // the silence while paused was ours
  // A draining transfer that cannot resume ends at its drain deadline.
  if (CURLcode code = curl_easy_pause(t.easy, CURLPAUSE_CONT); code != CURLE_OK && t.chat) {
    provider_failed(*t.chat, make_error(ErrorKind::connection, t.chat->provider,
                                        std::string("cannot resume the transfer: ") + curl_easy_strerror(code)));
  }
}

SessionWork &Engine::Impl::post(SessionWork::Kind kind, SessionId session) {
  SessionWork &item = work.add();
  item.kind = kind;
  item.session = session;
  return item;
}

// The session has its whole answer before the response ended: the chat goes on at once, and the
// rest of the response is drained on its own so that the connection can be reused.
void Engine::Impl::answer_complete(Chat &chat) {
  std::unique_ptr<Transfer> rest = std::move(chat.transfer);
  transfers.erase(rest->id);
  transfers_changed();
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
  transition(chat, ChatState::requesting);  // the backend asks for the next request itself
}

void Engine::Impl::start_attempt(Chat &chat) {
  ++chat.attempt;
  chat.retry_at = never;
  auto [easy, fresh] = pool.take();
  if (!easy) {
    return provider_failed(chat,
                           make_error(ErrorKind::connection, chat.provider, "cannot start a transfer (out of memory)"));
  }
  std::string refused = fresh ? configure_handle(easy, options.proxy, options.timeouts.connect_ms) : std::string();
  if (!refused.empty()) {
    curl_easy_cleanup(easy);
    return provider_failed(chat,
                           make_error(ErrorKind::connection, chat.provider, "cannot start a transfer: " + refused));
  }
  chat.transfer = std::make_unique<Transfer>(next_id++, chat, easy, touched, buffer_limit);
  Transfer &t = *chat.transfer;
  t.clock.attempt_timeout_ms = chat.request.timeout_ms;
  transfers.emplace(t.id, &t);
  transfers_changed();
  transition(chat, ChatState::transferring);
  if (chat.recording) record_request(chat, t);
  refused = configure_transfer(t, chat.request);
  if (refused.empty()) refused = pool.add(easy);
  if (!refused.empty()) {
    return provider_failed(chat,
                           make_error(ErrorKind::connection, chat.provider, "cannot start a transfer: " + refused));
  }
  arm(DeadlineKind::connect, t);
  arm(DeadlineKind::attempt, t);
}

// The request as sent, the first part of the exchange the recording keeps; libcurl's callbacks add
// the response's bytes to it (transfer.cpp).
void Engine::Impl::record_request(Chat &chat, Transfer &t) {
  auto exchange = std::make_shared<RecordedExchange>();
  exchange->provider = chat.provider;
  exchange->method = chat.request.method;
  exchange->url = chat.request.url;
  exchange->request_headers = chat.request.headers;
  exchange->request_body = chat.request.body;
  exchange->started = std::chrono::system_clock::now();
  exchange->started_steady = Clock::now();
  chat.recording->exchanges.push_back(exchange);
  t.recording = std::move(exchange);
}

void Engine::Impl::transport_failed(Chat &chat, Transfer &t) {
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
      return attempt_failed(chat, make_error(decision.kind, chat.provider, decision.what), decision.retry_on, body_fed);
    }
  }
}

void Engine::Impl::drop_transfer(Chat &chat) {
  if (!chat.transfer) return;
  Transfer &t = *chat.transfer;
  if (t.easy) pool.release(t.easy);
  transition(t, TransferState::finished);
  transfers.erase(t.id);
  transfers_changed();
  chat.transfer.reset();
}

}  // namespace provhost::core
