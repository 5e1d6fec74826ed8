// doorbell.hpp: how one thread tells another, asleep or about to sleep, that there is something for
// it. The sleeper looks at what it waits for, then waits at the doorbell; a ring between the look
// and the wait is kept, so the wait returns at once and no ring is ever lost. Only a ring that finds
// the sleeper asleep costs a system call.
//
// Hand-written rather than std::condition_variable, because glibc's condition variable hands its
// mutex back contended after every wait (one more FUTEX_WAKE per wake-up, at every hand-over of a
// batch to a lane), and rather than C++20's std::atomic::wait, because libstdc++ spins with
// sched_yield before it sleeps (four system calls per wait on a machine whose other core is busy).
#pragma once

#include <atomic>
#include <cstdint>

namespace provhost::core::engine {

class Doorbell {
 public:
  // From any thread: the sleeper's next wait() returns (at once, or wakes).
  void ring();
  // From the one sleeping thread: returns once rung since the last return; rings between two
  // waits count as one.
  void wait();
  // How many rings found the sleeper asleep and had to wake it (tests count these).
  uint64_t wakeups_sent() const { return wakeups_sent_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t quiet = 0;
  static constexpr uint32_t rung = 1;
  static constexpr uint32_t asleep = 2;
  std::atomic<uint32_t> state_{quiet};
  std::atomic<uint64_t> wakeups_sent_{0};
};

}  // namespace provhost::core::engine
