#include "deadlines.hpp"

#include <algorithm>

namespace provhost::core::engine {
namespace {

// std's heap functions keep the largest first; this keeps the earliest first.
bool later(const Deadline &a, const Deadline &b) { return a.when > b.when; }

}  // namespace

void DeadlineQueue::arm(TimePoint when, DeadlineKind kind, uint64_t owner) {
  if (when == never) return;
  heap_.push_back(Deadline{when, kind, owner});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

void DeadlineQueue::pop_due(TimePoint now, std::vector<Deadline> &due) {
  while (!heap_.empty() && heap_.front().when <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    due.push_back(heap_.back());
    heap_.pop_back();
  }
}

void DeadlineQueue::rebuild() { std::make_heap(heap_.begin(), heap_.end(), later); }

}  // namespace provhost::core::engine
