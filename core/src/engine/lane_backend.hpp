// lane_backend.hpp: what both session backends share. Sessions are routed by provider to a Lane,
// a thread of the host with an inbox of work; the engine's thread only queues and, once per
// submit, hands each lane its queue with one lock, ringing its doorbell (a system call only when the
// lane sleeps). A lane turns work into results its own way (InProcessBackend: plugin code right
// there; ProcessBackend: a worker process over a socket) and posts them to the backend's outbox,
// waking the engine when that was empty.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "doorbell.hpp"
#include "session_backend.hpp"

namespace provhost::core::engine {

// Where a lane posts results: the backend's outbox.
struct Outbox {
  std::mutex mutex;
  Batch<SessionResult> results;
  std::function<void()> wake;

  // Moves `produced` into the outbox; wakes the engine when nothing was waiting.
  void post(Batch<SessionResult> &produced);
};

class Lane {
 public:
  explicit Lane(Outbox &outbox) : outbox_(outbox) {}
  virtual ~Lane() = default;
  Lane(const Lane &) = delete;
  Lane &operator=(const Lane &) = delete;

  // Queues `item` on the engine's side; flush() hands the queue over with one lock and one wake.
  void queue(SessionWork &item);
  void flush();
  bool has_queued = false;  // the engine's thread only

  // Ends the lane: a derived class's destructor calls it, since the thread calls its functions.
  void stop();

 protected:
  // Starts the thread; the derived constructor calls it last.
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  // Turns a batch of work into results, on the lane's thread.
  virtual void process(Batch<SessionWork> &working, Batch<SessionResult> &produced) = 0;
  // On the lane's thread, once the last batch is done.
  virtual void finish() = 0;
  // On stop(), from the stopping thread, before waiting for the lane's: a lane that may be waiting
  // on something else than its inbox makes that wait end.
  virtual void interrupt() {}
  bool stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }
  Outbox &outbox_;

 private:
  void run();

  std::mutex mutex_;  // guards inbox_ and stopping_, held only to swap or look
  Doorbell work_ready_;
  Batch<SessionWork> queued_;  // the engine's thread only
  Batch<SessionWork> inbox_;
  bool stopping_ = false;
  std::thread thread_;
};

// Routes each session to the lane of its provider's version, made on first use by `make_lane`. A
// lane whose version the registry no longer serves is retired (stopped: its thread ends, its worker
// exits, its library may be unloaded) once its last session has ended, so a replaced plugin's
// chats in flight finish on the version they started on.
class LaneBackend : public SessionBackend {
 public:
  // `provider` null when no provider of that name is loaded: the lane fails its sessions.
  using MakeLane =
      std::function<std::unique_ptr<Lane>(const ProviderPtr &provider, const std::string &name, Outbox &outbox)>;
  // `answer_close_at_once`: a close is answered by the backend when it is submitted, not when the
  // lane gets to it, so that ending a chat never waits on plugin code (a lane in another process
  // cleans up on its own).
  LaneBackend(const Registry &registry, std::function<void()> wake, MakeLane make_lane, bool answer_close_at_once);
  ~LaneBackend() override { shutdown(); }

  void submit(Batch<SessionWork> &work) override;
  void collect(Batch<SessionResult> &results) override;
  void shutdown() override;

  // Lanes running now, and lanes retired so far (tests watch workers come and go by these).
  size_t lanes() const { return lanes_.size(); }
  size_t retired() const { return retired_; }

 private:
  struct Slot {
    ProviderPtr version;  // what the lane runs: kept loaded while the lane lives
    std::unique_ptr<Lane> lane;
    size_t sessions = 0;  // open on it
  };
  void post_closed(SessionId session);
  Slot &slot_for(const SessionWork &open);
  void session_ended(Slot &slot);
  // Stops the idle lanes of versions the registry no longer serves; looks only when something
  // changed since the last look (a new snapshot, a lane that went idle).
  void retire_idle_lanes();

  const Registry &registry_;
  Outbox outbox_;
  MakeLane make_lane_;
  bool answer_close_at_once_;
  std::unordered_map<const LoadedProvider *, Slot> lanes_;  // by version; null: providers not loaded
  std::unordered_map<SessionId, Slot *> routes_;            // open sessions
  std::vector<Lane *> flushing_;                            // the lanes given work by this submit
  std::uint64_t generation_seen_ = 0;
  bool lane_went_idle_ = false;
  size_t retired_ = 0;
};

}  // namespace provhost::core::engine
