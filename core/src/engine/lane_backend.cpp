#include "lane_backend.hpp"

namespace provhost::core::engine {

void Outbox::post(Batch<SessionResult> &produced, bool on_engine_thread) {
  bool was_empty = false;
  {
    std::lock_guard lock(mutex);
    was_empty = results.empty();
    if (was_empty) {
      results.swap(produced);
    } else {
      results.append_from(produced);
    }
  }
  produced.clear();
  if (on_engine_thread)
    posted_here = true;
  else if (was_empty)
    wake();
}

void ThreadLane::queue(SessionWork &item) {
  has_queued = true;
  std::swap(queued_.add(), item);
}

void ThreadLane::flush() {
  has_queued = false;
  {
    std::lock_guard lock(mutex_);
    inbox_.append_from(queued_);
  }
  work_ready_.ring();
}

void ThreadLane::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  work_ready_.ring();
  if (thread_.joinable()) thread_.join();
}

void ThreadLane::run() {
  Batch<SessionWork> working;
  Batch<SessionResult> produced;
  for (;;) {
    bool stop = false;
    {
      std::lock_guard lock(mutex_);
      inbox_.swap(working);
      stop = stopping_;
    }
    if (working.empty()) {
      if (stop) break;  // everything submitted is done
      work_ready_.wait();
      continue;
    }
    process(working, produced);
    working.clear();
    if (!produced.empty()) outbox_.post(produced);
  }
  finish();
}

LaneBackend::LaneBackend(const Registry &registry, std::function<void()> wake, MakeLane make_lane,
                         bool answer_close_at_once)
    : registry_(registry), make_lane_(std::move(make_lane)), answer_close_at_once_(answer_close_at_once) {
  outbox_.wake = std::move(wake);
}

// Runs on the engine's thread only: the routing tables are its own.
void LaneBackend::submit(Batch<SessionWork> &work) {
  bool closed_here = false;
  for (size_t i = 0; i < work.size(); ++i) {
    SessionWork &item = work[i];
    Lane *lane = nullptr;
    if (item.kind == SessionWork::Kind::open) {
      Slot &slot = slot_for(item);
      item.plugin.reset();  // the lane knows its version; a recycled item must not keep it loaded
      ++slot.sessions;
      routes_[item.session] = &slot;
      lane = slot.lane.get();
    } else if (auto found = routes_.find(item.session); found != routes_.end()) {
      lane = found->second->lane.get();
      if (item.kind == SessionWork::Kind::close) {
        session_ended(*found->second);
        routes_.erase(found);
      }
    }
    if (item.kind == SessionWork::Kind::close && (!lane || answer_close_at_once_)) {
      closed_here = true;
      post_closed(item.session);  // every close is answered, even of a session never opened
    }
    if (lane) {
      if (!lane->has_queued) flushing_.push_back(lane);
      lane->queue(item);
    }
  }
  work.clear();
  for (Lane *lane : flushing_) lane->flush();
  flushing_.clear();
  if (closed_here) {
    outbox_.posted_here = true;  // this is the engine's thread: it collects before it sleeps
    outbox_.wake();
  }
  retire_idle_lanes();
}

void LaneBackend::collect(Batch<SessionResult> &results) {
  {
    std::lock_guard lock(outbox_.mutex);
    outbox_.results.swap(results);
    outbox_.posted_here = false;
  }
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].kind != SessionResult::Kind::no_more_requests) continue;
    if (auto found = routes_.find(results[i].session); found != routes_.end()) {
      session_ended(*found->second);
      routes_.erase(found);
    }
  }
}

void LaneBackend::shutdown() {
  for (auto &[version, slot] : lanes_) slot.lane->stop();
}

void LaneBackend::watch(std::vector<PollWatch> &watches) {
  watching_.clear();
  first_watch_ = watches.size();
  for (auto &[version, slot] : lanes_) {
    slot.lane->watch(watches);
    watching_.resize(watches.size() - first_watch_, slot.lane.get());
  }
}

void LaneBackend::ready(std::vector<PollWatch> &watches) {
  for (size_t i = 0; i < watching_.size() && first_watch_ + i < watches.size(); ++i) {
    if (watches[first_watch_ + i].revents) watching_[i]->ready(watches[first_watch_ + i]);
  }
}

void LaneBackend::deadline_due(uint64_t owner, TimePoint now) {
  for (auto &[version, slot] : lanes_) slot.lane->deadline_due(owner, now);
}

void LaneBackend::post_closed(SessionId session) {
  std::lock_guard lock(outbox_.mutex);
  SessionResult &out = outbox_.results.add();
  out.kind = SessionResult::Kind::closed;
  out.session = session;
}

LaneBackend::Slot &LaneBackend::slot_for(const SessionWork &open) {
  ProviderPtr version = open.plugin ? open.plugin : registry_.find(open.provider);
  auto found = lanes_.find(version.get());
  if (found == lanes_.end()) {
    std::unique_ptr<Lane> lane = make_lane_(version, open.provider, outbox_);
    found = lanes_.emplace(version.get(), Slot{version, std::move(lane)}).first;
  }
  return found->second;
}

void LaneBackend::session_ended(Slot &slot) {
  if (--slot.sessions == 0) lane_went_idle_ = true;
}

void LaneBackend::retire_idle_lanes() {
  std::shared_ptr<const RegistrySnapshot> current = registry_.snapshot();
  if (current->generation == generation_seen_ && !lane_went_idle_) return;
  generation_seen_ = current->generation;
  lane_went_idle_ = false;
  for (auto it = lanes_.begin(); it != lanes_.end();) {
    if (it->second.sessions > 0 || (it->first && current->holds(it->first))) {
      ++it;
      continue;
    }
    it->second.lane->stop();
    it = lanes_.erase(it);
    ++retired_;
  }
}

}  // namespace provhost::core::engine
