#include "lane_backend.hpp"

namespace provhost::core::engine {

void Outbox::post(Batch<SessionResult> &produced) {
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
  if (was_empty) wake();
}

void Lane::queue(SessionWork &item) {
  has_queued = true;
  std::swap(queued_.add(), item);
}

void Lane::flush() {
  has_queued = false;
  {
    std::lock_guard lock(mutex_);
    inbox_.append_from(queued_);
  }
  work_ready_.notify_one();
}

void Lane::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  work_ready_.notify_one();
  interrupt();
  if (thread_.joinable()) thread_.join();
}

void Lane::run() {
  Batch<SessionWork> working;
  Batch<SessionResult> produced;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [&] { return !inbox_.empty() || stopping_; });
      if (inbox_.empty()) break;  // stopping, and everything submitted is done
      inbox_.swap(working);
    }
    process(working, produced);
    working.clear();
    if (!produced.empty()) outbox_.post(produced);
  }
  finish();
}

LaneBackend::LaneBackend(std::function<void()> wake, MakeLane make_lane, bool answer_close_at_once)
    : make_lane_(std::move(make_lane)), answer_close_at_once_(answer_close_at_once) {
  outbox_.wake = std::move(wake);
}

// Runs on the engine's thread only: the routing tables are its own.
void LaneBackend::submit(Batch<SessionWork> &work) {
  bool closed_here = false;
  for (size_t i = 0; i < work.size(); ++i) {
    SessionWork &item = work[i];
    Lane *lane = nullptr;
    if (item.kind == SessionWork::Kind::open) {
      lane = &lane_for(item.provider);
      routes_[item.session] = lane;
    } else if (auto found = routes_.find(item.session); found != routes_.end()) {
      lane = found->second;
      if (item.kind == SessionWork::Kind::close) routes_.erase(found);
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
  if (closed_here) outbox_.wake();
}

void LaneBackend::collect(Batch<SessionResult> &results) {
  {
    std::lock_guard lock(outbox_.mutex);
    outbox_.results.swap(results);
  }
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].kind == SessionResult::Kind::no_more_requests) routes_.erase(results[i].session);
  }
}

void LaneBackend::shutdown() {
  for (auto &[name, lane] : lanes_) lane->stop();
}

void LaneBackend::post_closed(SessionId session) {
  std::lock_guard lock(outbox_.mutex);
  SessionResult &out = outbox_.results.add();
  out.kind = SessionResult::Kind::closed;
  out.session = session;
}

Lane &LaneBackend::lane_for(const std::string &provider) {
  auto found = lanes_.find(provider);
  if (found == lanes_.end()) found = lanes_.emplace(provider, make_lane_(provider, outbox_)).first;
  return *found->second;
}

}  // namespace provhost::core::engine
