// lane_backend.hpp: what both session backends share. Sessions are routed by provider version to
// a Lane, which turns work into results its own way and posts them to the backend's outbox:
//  - a ThreadLane is a thread of the host with an inbox of work; the engine's thread only queues
//    and, once per submit, hands each lane its queue with one lock, ringing its doorbell (a system
//    call only when the lane sleeps); the lane wakes the engine when the outbox was empty. The
//    InProcessBackend's lanes run plugin code right there.
//  - a lane that lives on the engine's thread (ProcessBackend's, a worker process over a socket)
//    does its I/O when the engine's poll says it may (watch(), ready()) and posts without a wake.
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
  bool posted_here = false;  // by the engine's own thread since the last collect

  // Moves `produced` into the outbox; from another thread, wakes the engine when nothing was
  // waiting; from the engine's own (`on_engine_thread`), only notes that something is.
  void post(Batch<SessionResult> &produced, bool on_engine_thread = false);
};

class Lane {
 public:
  explicit Lane(Outbox &outbox) : outbox_(outbox) {}
  virtual ~Lane() = default;
  Lane(const Lane &) = delete;
  Lane &operator=(const Lane &) = delete;

  // Queues `item` on the engine's side; flush() hands the queue on (the engine's thread only).
  virtual void queue(SessionWork &item) = 0;
  virtual void flush() = 0;
  bool has_queued = false;  // the engine's thread only
  // Ends the lane: what it holds of plugin code ends with it.
  virtual void stop() = 0;
  // A lane on the engine's thread: see SessionBackend.
  virtual void watch(std::vector<PollWatch> &) {}
  virtual void ready(PollWatch &) {}
  virtual void deadline_due(uint64_t /*owner*/, TimePoint /*now*/) {}

 protected:
  Outbox &outbox_;
};

class ThreadLane : public Lane {
 public:
  using Lane::Lane;

  void queue(SessionWork &item) override;
  void flush() override;
  // A derived class's destructor calls it, since the thread calls its functions.
  void stop() override;

 protected:
  // Starts the thread; the derived constructor calls it last.
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  // Turns a batch of work into results, on the lane's thread.
  virtual void process(Batch<SessionWork> &working, Batch<SessionResult> &produced) = 0;
  // On the lane's thread, once the last batch is done.
  virtual void finish() = 0;

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
  void watch(std::vector<PollWatch> &watches) override;
  void ready(std::vector<PollWatch> &watches) override;
  bool results_pending() const override { return outbox_.posted_here; }
  void deadline_due(uint64_t owner, TimePoint now) override;

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
  std::vector<Lane *> watching_;                            // whose each watch of the last watch() is,
  size_t first_watch_ = 0;                                  // from this index of the engine's watches
  std::uint64_t generation_seen_ = 0;
  bool lane_went_idle_ = false;
  size_t retired_ = 0;
};

}  // namespace provhost::core::engine
