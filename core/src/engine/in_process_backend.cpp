// InProcessBackend: plugin sessions on plugin threads of this process, one per provider. The
// engine's thread only queues work and collects results; a slow plugin delays its own chats'
// results, never the transfers or the sessions of the others.
#include <condition_variable>
#include <mutex>
#include <provhost/core/error.hpp>
#include <string>
#include <thread>
#include <unordered_map>

#include "session_backend.hpp"

namespace provhost::core::engine {
namespace {

// Collects what a session reports into the result being produced.
class ResultListener final : public detail::SessionListener {
 public:
  void session_text(std::string_view text) override { current->text.append(text); }
  void session_warning(std::string_view message) override { current->warnings.emplace_back(message); }
  SessionResult *current = nullptr;
};

struct Slot {
  ResultListener listener;
  std::unique_ptr<detail::PluginSession> session;
  bool failed = false;    // later work is ignored until the close
  bool answered = false;  // PH_DONE from on_body: the rest of this response is not the session's
};

// One plugin thread and the sessions it runs. Every session of a provider runs on that provider's
// worker, so a plugin that blocks delays only its own chats.
class Worker {
 public:
  Worker(const Registry &registry, Batch<SessionResult> &outbox, std::mutex &outbox_mutex,
         const std::function<void()> &wake)
      : registry_(registry), outbox_(outbox), outbox_mutex_(outbox_mutex), wake_(wake), thread_([this] { run(); }) {}
  ~Worker() { stop(); }

  // Queues `item` on the engine's side; flush() hands the queue over with one lock and one wake.
  void queue(SessionWork &item) {
    has_queued = true;
    std::swap(queued_.add(), item);
  }
  void flush() {
    has_queued = false;
    {
      std::lock_guard lock(mutex_);
      inbox_.append_from(queued_);
    }
    work_ready_.notify_one();
  }
  bool has_queued = false;  // the engine's thread only

  // Runs what was submitted, closes the sessions left, and joins the thread.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    work_ready_.notify_one();
    thread_.join();
  }

 private:
  void run() {
    Batch<SessionWork> working;
    Batch<SessionResult> produced;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        work_ready_.wait(lock, [&] { return !inbox_.empty() || stopping_; });
        if (inbox_.empty()) break;  // stopping, and everything submitted is done
        inbox_.swap(working);
      }
      for (size_t i = 0; i < working.size(); ++i) handle(working[i], produced);
      working.clear();
      bool was_empty = false;
      {
        std::lock_guard lock(outbox_mutex_);
        was_empty = outbox_.empty();
        if (was_empty) {
          outbox_.swap(produced);
        } else {
          outbox_.append_from(produced);
        }
      }
      produced.clear();
      if (was_empty) wake_();
    }
    for (auto &[id, slot] : sessions_) slot->session->close();
    sessions_.clear();
  }

  SessionResult &result(Batch<SessionResult> &produced, Slot *slot, SessionId id, SessionResult::Kind kind) {
    SessionResult &out = produced.add();
    out.session = id;
    out.kind = kind;
    if (slot) slot->listener.current = &out;
    return out;
  }

  void failed(SessionResult &out, Slot &slot) {
    out.kind = SessionResult::Kind::failed;
    out.error = slot.session->failure();
    slot.failed = true;
  }

  void handle(SessionWork &work, Batch<SessionResult> &produced) {
    using Kind = SessionResult::Kind;
    if (work.kind == SessionWork::Kind::open) return open(work, produced);
    auto found = sessions_.find(work.session);
    if (work.kind == SessionWork::Kind::close) {
      // A session that never opened (its provider was gone) is closed all the same.
      Slot *slot = found == sessions_.end() ? nullptr : found->second.get();
      result(produced, slot, work.session, Kind::closed);
      if (slot) {
        slot->session->close();
        sessions_.erase(found);
      }
      return;
    }
    if (found == sessions_.end()) return;
    Slot &slot = *found->second;
    if (slot.failed) return;
    switch (work.kind) {
      case SessionWork::Kind::next_request:
        return next_request(slot, work.session, produced);
      case SessionWork::Kind::response_start: {
        SessionResult &out = result(produced, &slot, work.session, Kind::action);
        slot.answered = false;  // a new response: its bytes are the session's again
        std::optional<ph_response_action> action = slot.session->response_start(work.status, work.headers);
        if (!action) return failed(out, slot);
        out.action = *action;
        if (work.bytes.empty()) return;
        // The first body bytes came along: the session reads them now, or they go back.
        if (*action != PH_RESPONSE_READ) return out.bytes.swap(work.bytes);
        return body(slot, work, produced);
      }
      case SessionWork::Kind::body:
        return body(slot, work, produced);
      case SessionWork::Kind::response_end: {
        if (slot.answered) return;
        SessionResult &out = result(produced, &slot, work.session, Kind::response_ended);
        if (slot.session->response_end() != PH_OK) return failed(out, slot);
        return next_request(slot, work.session, produced);  // what the engine asks next, always
      }
      default:
        return;
    }
  }

  void body(Slot &slot, SessionWork &work, Batch<SessionResult> &produced) {
    if (slot.answered) return;
    SessionResult &out = result(produced, &slot, work.session, SessionResult::Kind::body_taken);
    ph_status status = slot.session->body(work.bytes);
    if (status == PH_DONE) {
      out.answer_complete = slot.answered = true;
      // The rest of this response is not the session's; what the engine asks next is certain.
      next_request(slot, work.session, produced);
    } else if (status != PH_OK) {
      failed(out, slot);
    }
  }

  // May close the session (and free `slot`) when it has nothing more to send.
  void next_request(Slot &slot, SessionId id, Batch<SessionResult> &produced) {
    using Kind = SessionResult::Kind;
    SessionResult &out = result(produced, &slot, id, Kind::request);
    switch (slot.session->next_request(out.request)) {
      case detail::PluginSession::Next::request:
        return;
      case detail::PluginSession::Next::done:
        // Nothing can follow: the session is closed now, which spares the engine a round trip.
        out.kind = Kind::no_more_requests;
        out.finished = slot.session->finished();
        slot.session->close();
        sessions_.erase(id);
        return;
      case detail::PluginSession::Next::failed:
        return failed(out, slot);
    }
  }

  void open(SessionWork &work, Batch<SessionResult> &produced) {
    const LoadedProvider *provider = registry_.find(work.provider);
    if (!provider) {
      SessionResult &out = result(produced, nullptr, work.session, SessionResult::Kind::failed);
      out.error = make_error(ErrorKind::plugin, work.provider, "the provider is not loaded");
      return;
    }
    auto slot = std::make_unique<Slot>();
    slot->session = std::make_unique<detail::PluginSession>(*provider, work.model, slot->listener);
    SessionResult &out = result(produced, slot.get(), work.session, SessionResult::Kind::opened);
    if (!slot->session->open(work.spec)) failed(out, *slot);
    sessions_.emplace(work.session, std::move(slot));
  }

  const Registry &registry_;
  Batch<SessionResult> &outbox_;
  std::mutex &outbox_mutex_;
  const std::function<void()> &wake_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  Batch<SessionWork> queued_;  // the engine's thread only
  Batch<SessionWork> inbox_;
  bool stopping_ = false;
  std::unordered_map<SessionId, std::unique_ptr<Slot>> sessions_;  // this thread's own
  std::thread thread_;                                             // last: it starts once everything it uses exists
};

class InProcessBackend final : public SessionBackend {
 public:
  InProcessBackend(const Registry &registry, std::function<void()> wake)
      : registry_(registry), wake_(std::move(wake)) {}

  ~InProcessBackend() override { shutdown(); }

  // Runs on the engine's thread only: the routing tables are its own.
  void submit(Batch<SessionWork> &work) override {
    bool closed_unknown = false;
    for (size_t i = 0; i < work.size(); ++i) {
      SessionWork &item = work[i];
      Worker *worker = nullptr;
      if (item.kind == SessionWork::Kind::open) {
        worker = &worker_for(item.provider);
        routes_[item.session] = worker;
      } else if (auto found = routes_.find(item.session); found != routes_.end()) {
        worker = found->second;
        if (item.kind == SessionWork::Kind::close) routes_.erase(found);
      }
      if (worker) {
        if (!worker->has_queued) flushing_.push_back(worker);
        worker->queue(item);
      } else if (item.kind == SessionWork::Kind::close) {
        closed_unknown = true;
        post_closed(item.session);  // every close is answered, even of a session never opened
      }
    }
    work.clear();
    for (Worker *worker : flushing_) worker->flush();
    flushing_.clear();
    if (closed_unknown) wake_();
  }

  void collect(Batch<SessionResult> &results) override {
    {
      std::lock_guard lock(outbox_mutex_);
      outbox_.swap(results);
    }
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].kind == SessionResult::Kind::no_more_requests) routes_.erase(results[i].session);
    }
  }

  void shutdown() override {
    for (auto &[name, worker] : workers_) worker->stop();
  }

 private:
  void post_closed(SessionId session) {
    std::lock_guard lock(outbox_mutex_);
    SessionResult &out = outbox_.add();
    out.kind = SessionResult::Kind::closed;
    out.session = session;
  }

  Worker &worker_for(const std::string &provider) {
    auto found = workers_.find(provider);
    if (found == workers_.end()) {
      found = workers_.emplace(provider, std::make_unique<Worker>(registry_, outbox_, outbox_mutex_, wake_)).first;
    }
    return *found->second;
  }

  const Registry &registry_;
  std::function<void()> wake_;
  std::mutex outbox_mutex_;
  Batch<SessionResult> outbox_;
  std::unordered_map<std::string, std::unique_ptr<Worker>> workers_;  // by provider name
  std::unordered_map<SessionId, Worker *> routes_;                    // open sessions
  std::vector<Worker *> flushing_;                                    // the workers given work by this submit
};

}  // namespace

std::unique_ptr<SessionBackend> make_in_process_backend(const Registry &registry, std::function<void()> wake) {
  return std::make_unique<InProcessBackend>(registry, std::move(wake));
}

}  // namespace provhost::core::engine
