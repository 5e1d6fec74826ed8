// The request engine: the loop and its mailbox. One thread drives every chat's HTTP transfers on
// libcurl's multi interface; plugin sessions run elsewhere, behind a SessionBackend.
//
// A chat walks its candidates (fallback): for each, a plugin session asks for requests; each
// request is sent in attempts (retries); each attempt is one transfer. Where each concern lives:
//   chat_state.*          a chat's states and its one transition function
//   transfer.*            a transfer's states, libcurl's callbacks (they only record) and options
//   decisions.*           retry, fallback, deadline and failure judgements, as pure functions
//   deadlines.*           every named deadline in one min-heap
//   session_backend.hpp   the interface to plugin sessions; in_process_backend.cpp runs them here,
//                         ../isolation/process_backend.cpp in worker processes
//   curl_pool.*           the multi handle and the pool of easy handles, return codes checked
//   answer_shaper.*       stop strings, max_tokens and usage, the same for every provider
//   engine_errors.*       how errors are built
// The engine's state is Engine::Impl (engine_impl.hpp); its functions live in engine.cpp (the loop
// and mailbox), engine_transfers.cpp, engine_results.cpp, engine_deadlines.cpp and engine_chats.cpp.
// Each wake-up: take the mailbox (new chats, cancellations), let libcurl work, hand what it
// recorded to the sessions as one batch, act on the sessions' results, fire due deadlines, and
// poll until the nearest deadline, libcurl's sockets and the session backend's (its workers'
// sockets, in process isolation) in one poll.
#include <algorithm>
#include <provhost/core/error.hpp>
#include <stdexcept>
#include <thread>

#include "../isolation/process_backend.hpp"
#include "answer_shaper.hpp"
#include "engine_impl.hpp"
#include "engine_log.hpp"

namespace provhost::core {

Engine::Impl::Impl(const Registry &registry, EngineOptions options) : registry(registry), options(std::move(options)) {
  mailbox->pool = &pool;
  enable_debug(this->options.log_transitions);
  // Providers scanned out of process have no plugin code here: their sessions run in workers too.
  if (const IsolationOptions *isolation = registry.isolation())
    backend = make_process_backend(registry, *isolation, deadlines);
  else
    backend = make_in_process_backend(registry, [this] { pool.wake(); });
}

Engine::Impl::~Impl() {
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

void Engine::Impl::loop(bool until_idle) {
  // curl_multi_perform visits every transfer, so it runs only when a socket is ready or one of
  // libcurl's timers is due, not on wake-ups that only brought the sessions' results.
  bool sockets_ready = true;
  bool polled = true;  // the last turn ended in a poll
  for (;;) {
    if (take_mail()) {
      std::lock_guard lock(mailbox->mutex);
      mailbox->stop = false;  // consumed: the next run() runs
      flush_work();
      return;
    }
    if (until_idle && chats.empty()) return;
    if (sockets_ready || pool.timer_due()) {
      if (std::string failure = pool.perform(); !failure.empty()) fail_every_transfer(failure);
      collect_finished();
    }
    look_at_touched();
    take_results();
    fire_deadlines(Clock::now());
    flush_work();
    if (until_idle && chats.empty()) continue;  // look at the mailbox once more before leaving
    // Results this thread posted (closes answered at once, a worker's failure found while sending)
    // and libcurl's timers due now (a transfer just added) are taken at once: a poll that may not
    // wait would cost a system call and libcurl a walk over every transfer. Never twice in a row,
    // so that nothing keeps the sockets from being looked at.
    if (polled && (backend->results_pending() || pool.timer_due())) {
      polled = false;
      sockets_ready = false;  // nothing new was learnt about them
      continue;
    }
    polled = true;
    TimePoint next = deadlines.next();
    auto wait = next == never ? longest_poll : std::chrono::ceil<milliseconds>(next - Clock::now());
    wait = std::clamp(wait, milliseconds(0), longest_poll);
    if (backend->results_pending()) wait = milliseconds(0);
    watches.clear();
    backend->watch(watches);
    int ready = 0;
    if (std::string failure = pool.poll(static_cast<int>(wait.count()), ready, watches); !failure.empty()) {
      fail_every_transfer(failure);
      std::this_thread::sleep_for(wait);  // without poll, at least not a busy loop
      ready = 1;
    } else {
      backend->ready(watches);
    }
    sockets_ready = ready > 0;
  }
}

// Starts the chats that arrived and cancels those asked to; true when the loop should stop.
bool Engine::Impl::take_mail() {
  std::vector<std::shared_ptr<Chat>> arrived;
  std::vector<uint64_t> cancelled;
  std::vector<std::pair<uint64_t, bool>> holds;
  bool stop = false;
  {
    std::lock_guard lock(mailbox->mutex);
    arrived.swap(mailbox->incoming);
    cancelled.swap(mailbox->cancelled);
    holds.swap(mailbox->holds);
    stop = mailbox->stop;
  }
  for (auto &chat : arrived) start(std::move(chat));
  for (auto [id, held] : holds) {
    auto found = chats.find(id);
    if (found == chats.end()) continue;
    Chat &chat = *found->second;
    chat.output_held = held;
    // Released: what waited in the transfer's buffer goes on at the next look.
    if (!held && chat.transfer) chat.transfer->touch();
  }
  for (uint64_t id : cancelled) {
    auto found = chats.find(id);
    if (found != chats.end() && found->second->state != ChatState::closing) {
      close_chat(*found->second, make_error(ErrorKind::cancelled, "", "cancelled"));
    }
  }
  return stop;
}

// libcurl itself failed: no transfer can be trusted to progress, so each fails its chat.
void Engine::Impl::fail_every_transfer(const std::string &failure) {
  report_libcurl_failure(failure);
  std::vector<Chat *> affected;
  for (auto &[id, t] : transfers) {
    if (t->chat) affected.push_back(t->chat);
  }
  for (Chat *chat : affected) {
    provider_failed(*chat, make_error(ErrorKind::connection, chat->provider, "the transfer engine failed: " + failure));
  }
}

Engine::Engine(const Registry &registry, EngineOptions options)
    : impl_(std::make_unique<Impl>(registry, std::move(options))) {}

Engine::~Engine() = default;

std::shared_ptr<ChatHandle> Engine::submit(ChatSpec spec, std::shared_ptr<ChatSink> sink) {
  if (!sink) throw std::invalid_argument("Engine::submit needs a sink");
  auto shaper = std::make_shared<engine::AnswerShaper>(spec, std::move(sink), impl_->registry);
  auto chat = std::make_shared<Chat>(impl_->next_chat_id++, std::move(spec), shaper);
  if (impl_->options.recorder) {
    chat->recording = std::make_unique<RecordedChat>();
    chat->recording->id = chat->id;
    chat->recording->spec = chat->spec;
  }
  auto handle = std::make_shared<Impl::Handle>(chat, impl_->mailbox);
  shaper->attach(handle);
  {
    std::lock_guard lock(impl_->mailbox->mutex);
    impl_->mailbox->incoming.push_back(chat);
  }
  // Woken after the lock is let go: the loop that wakes takes the mailbox's lock at once, and
  // would otherwise find it held by this thread, still in the wake's system call. The engine
  // outlives every submit, so its pool needs no lock here, unlike a handle's.
  impl_->pool.wake();
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
