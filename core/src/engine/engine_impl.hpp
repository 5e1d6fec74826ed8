// engine_impl.hpp: the engine's state, shared by the files that implement it (engine.cpp is the
// map of which file holds which concern). Internal to core.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/error.hpp>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat_state.hpp"
#include "curl_pool.hpp"
#include "deadlines.hpp"
#include "decisions.hpp"
#include "request_checks.hpp"
#include "session_backend.hpp"
#include "transfer.hpp"

namespace provhost::core {

namespace engine {
inline constexpr milliseconds default_total{120'000};  // the whole chat, unless told otherwise
inline constexpr milliseconds longest_poll{1000};
}  // namespace engine

using namespace engine;

struct Engine::Impl {
  // What other threads hand to the loop. `pool` is null once the engine is gone, so that a handle
  // that outlives the engine cancels nothing.
  struct Mailbox {
    std::mutex mutex;
    std::vector<std::shared_ptr<Chat>> incoming;
    std::vector<uint64_t> cancelled;
    std::vector<std::pair<uint64_t, bool>> holds;  // chat id, held
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
    void hold_output(bool held) override {
      std::shared_ptr<Chat> chat = chat_.lock();
      if (!chat) return;
      std::lock_guard lock(mailbox_->mutex);
      mailbox_->holds.emplace_back(chat->id, held);
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

  size_t buffer_limit = transfer_buffer_limit(0);             // for the transfers running now
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
  std::vector<PollWatch> watches;     // the backend's descriptors, polled with libcurl's
  std::mt19937 random{std::random_device{}()};
  // Each provider's upstream origin from options.upstreams (a value or why it is invalid), worked out
  // on its first chat: finding and parsing it is libcurl's URL parser and a dozen allocations, per chat.
  std::unordered_map<std::string, Result<std::string>> origins;
  KnownUrls known_urls;  // plugins' URLs that passed check_request, not parsed again

  const Result<std::string> &origin_of(const std::string &provider);

  void flush_work() { backend->submit(work); }
  // A transfer started or ended: the batches of body bytes each may take change, and so do the
  // idle connections libcurl keeps.
  void transfers_changed() {
    buffer_limit = transfer_buffer_limit(transfers.size());
    pool.size_connection_cache(transfers.size());
  }
  SessionWork &post(SessionWork::Kind kind, const Chat &chat) { return post(kind, chat.session); }

  // The loop and the mailbox (engine.cpp).
  Impl(const Registry &registry, EngineOptions options);
  ~Impl();
  void loop(bool until_idle);
  // Starts the chats that arrived and cancels those asked to; true when the loop should stop.
  bool take_mail();
  // libcurl itself failed: no transfer can be trusted to progress, so each fails its chat.
  void fail_every_transfer(const std::string &failure);

  // Transfers: starting them, and what libcurl recorded handed on to the session (engine_transfers.cpp).
  void collect_finished();
  void look_at_touched();
  // Moves a transfer as far as the facts allow.
  void advance(Transfer &t);
  void arm_transfer_deadlines(Transfer &t);
  void arm(DeadlineKind kind, const Transfer &t);
  // The response's status and headers are known: retry it, or ask the session what to do with it.
  void begin_response(Chat &chat, Transfer &t);
  void hand_on_body(Chat &chat, Transfer &t);
  // Lets libcurl deliver again what it held back while the buffer was full.
  void resume(Transfer &t);
  SessionWork &post(SessionWork::Kind kind, SessionId session);
  // The session has its whole answer before the response ended: the chat goes on at once, and the
  // rest of the response is drained on its own so that the connection can be reused.
  void answer_complete(Chat &chat);
  void start_attempt(Chat &chat);
  void record_request(Chat &chat, Transfer &t);
  void transport_failed(Chat &chat, Transfer &t);
  void drop_transfer(Chat &chat);

  // The sessions' results, to the chats and their sinks (engine_results.cpp).
  void take_results();
  void on_result(SessionResult &result);
  // The warnings and text one call into the plugin produced, to the sink.
  void deliver(Chat &chat, SessionResult &result);
  void deliver_text(Chat &chat, std::string &text, bool repaired);
  void deliver_tool_call(Chat &chat, ToolCallDelta &call);
  bool count_answer_bytes(Chat &chat, size_t bytes);

  // Deadlines that came due (engine_deadlines.cpp).
  void fire_deadlines(TimePoint now);
  void fire(const Deadline &deadline, TimePoint now);
  // One attempt ran out of time; timeouts before the answer began may be retried.
  void expire(Chat &chat, const Expiry &expiry);
  void out_of_time(Chat &chat);

  // A chat from start to end: fallback, retries, the end (engine_chats.cpp).
  void start(std::shared_ptr<Chat> pointer);
  void try_next_candidate(Chat &chat);
  void ask_next_request(Chat &chat);
  void send_request(Chat &chat);
  std::optional<milliseconds> retry_wait(Chat &chat, uint32_t flag, std::optional<std::string_view> retry_after,
                                         bool body_fed = false);
  void attempt_failed(Chat &chat, const ChatError &error, uint32_t flag, bool body_fed);
  void schedule_retry(Chat &chat, const ChatError &error, milliseconds wait);
  // The current provider cannot answer: try the next one while nothing has been said, else end.
  void provider_failed(Chat &chat, const ChatError &error);
  // Ends the chat: closes its session, then tells the sink (finish()). No outcome = the answer.
  void close_chat(Chat &chat, std::optional<ChatError> outcome);
  void finish(Chat &chat);
};

}  // namespace provhost::core
