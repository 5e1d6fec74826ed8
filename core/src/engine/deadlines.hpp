// deadlines.hpp: every named deadline of every chat and transfer in one min-heap, so that a wake-up
// costs O(log n) per deadline that came due instead of a scan of every chat.
//
// Entries are never removed early (lazy invalidation): when one comes due, its owner judges it again
// (decisions.hpp) and either acts, arms a later deadline, or drops it because it no longer applies
// (the owner is gone or moved on). compact() drops entries of owners that are gone once they
// outnumber the live ones, so that a busy server's heap stays proportional to its chats.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "decisions.hpp"

namespace provhost::core::engine {

struct Deadline {
  TimePoint when;
  DeadlineKind kind;
  uint64_t owner;  // a chat's or a transfer's id; ids are never reused
};

class DeadlineQueue {
 public:
  // A deadline at `never` is not armed.
  void arm(TimePoint when, DeadlineKind kind, uint64_t owner);

  // The earliest armed deadline, or never.
  TimePoint next() const { return heap_.empty() ? never : heap_.front().when; }

  // Moves every deadline due at `now` into `due` (appended, earliest first).
  void pop_due(TimePoint now, std::vector<Deadline> &due);

  // Drops the entries whose owner `alive` says is gone; `alive` takes the owner's id, or the whole
  // entry when owners of different kinds must be told apart.
  template <class Alive>
  void compact(Alive &&alive) {
    std::erase_if(heap_, [&](const Deadline &d) {
      if constexpr (std::is_invocable_v<Alive &, const Deadline &>)
        return !alive(d);
      else
        return !alive(d.owner);
    });
    rebuild();
  }

  size_t size() const { return heap_.size(); }

 private:
  void rebuild();
  std::vector<Deadline> heap_;
};

}  // namespace provhost::core::engine
