#include "doorbell.hpp"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace provhost::core::engine {
namespace {

// Sleeps while `*word` holds `expected` (returns at once when it no longer does, or spuriously).
void sleep_while(std::atomic<uint32_t> &word, uint32_t expected) {
#if defined(__linux__)
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  ::syscall(SYS_futex, reinterpret_cast<uint32_t *>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
#else
  word.wait(expected);
#endif
}

void wake_one(std::atomic<uint32_t> &word) {
#if defined(__linux__)
  ::syscall(SYS_futex, reinterpret_cast<uint32_t *>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
#else
  word.notify_one();
#endif
}

}  // namespace

void Doorbell::ring() {
  // Sequentially consistent, as every access to state_ here: the sleeper's announcement and the
  // ring see each other in one order.
  if (state_.exchange(rung) != asleep) return;
  wakeups_sent_.fetch_add(1, std::memory_order_relaxed);
  wake_one(state_);
}

void Doorbell::wait() {
  for (;;) {
    uint32_t seen = state_.load();
    if (seen == rung) {
      if (state_.compare_exchange_strong(seen, quiet)) return;
      continue;
    }
    // Announced before sleeping: a ring from now on finds `asleep` and wakes us, and one that came
    // first has made the announcement fail.
    if (seen == quiet && !state_.compare_exchange_strong(seen, asleep)) continue;
    sleep_while(state_, asleep);
  }
}

}  // namespace provhost::core::engine
