// CurlPool's wake: a wake is never lost, and only a loop that sleeps in curl_multi_poll costs a
// curl_multi_wakeup. A lost wake would leave these tests waiting in poll (the suite's timeout).
#include "curl_pool.hpp"

#include <catch2/catch.hpp>
#include <thread>

using provhost::core::engine::CurlPool;

namespace {
constexpr int long_wait_ms = 600'000;
}

TEST_CASE("a wake while the loop is busy calls no curl_multi_wakeup, and the next poll returns at once",
          "[engine][curl_pool]") {
  CurlPool pool;
  pool.wake();
  pool.wake();
  CHECK(pool.wakeups_sent() == 0);
  int ready = -1;
  REQUIRE(pool.poll(long_wait_ms, ready).empty());
  CHECK(ready == 0);
  CHECK(pool.wakeups_sent() == 0);
}

TEST_CASE("a wake from another thread ends the poll in progress", "[engine][curl_pool]") {
  CurlPool pool;
  // The waker keeps waking until one of its wakes found the loop asleep in poll.
  std::thread waker([&] {
    while (pool.wakeups_sent() == 0) {
      pool.wake();
      std::this_thread::yield();
    }
  });
  int polls = 0;
  while (pool.wakeups_sent() == 0) {
    int ready = -1;
    REQUIRE(pool.poll(long_wait_ms, ready).empty());
    CHECK(ready == 0);
    ++polls;
  }
  waker.join();
  CHECK(polls >= 1);
  CHECK(pool.wakeups_sent() == 1);
}
