// CurlPool's wake: a wake is never lost, and only a loop that sleeps in curl_multi_poll costs a
// curl_multi_wakeup. A lost wake would leave these tests waiting in poll (the suite's timeout).
#include "curl_pool.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

using provhost::core::engine::CurlPool;
using provhost::core::engine::PollWatch;

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

TEST_CASE(
    "descriptors watched beside libcurl's sockets come back with what the poll found, and are not counted "
    "as libcurl's",
    "[engine][curl_pool]") {
  CurlPool pool;
  int ends[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
  std::vector<PollWatch> watches = {{ends[0], POLLIN, 0}, {ends[1], POLLOUT, 0}};
  int ready = -1;
  REQUIRE(pool.poll(long_wait_ms, ready, watches).empty());  // ends[1] is writable: no wait
  CHECK(ready == 0);
  CHECK(watches[0].revents == 0);
  CHECK(watches[1].revents == POLLOUT);

  REQUIRE(::send(ends[1], "x", 1, MSG_NOSIGNAL) == 1);
  watches = {{ends[0], POLLIN, 0}};
  REQUIRE(pool.poll(long_wait_ms, ready, watches).empty());
  CHECK(ready == 0);
  CHECK(watches[0].revents == POLLIN);

  // A peer that hung up reads as readable: the end of the stream is found by reading.
  char byte = 0;
  REQUIRE(::recv(ends[0], &byte, 1, 0) == 1);
  ::close(ends[1]);
  watches = {{ends[0], POLLIN, 0}};
  REQUIRE(pool.poll(long_wait_ms, ready, watches).empty());
  CHECK((watches[0].revents & POLLIN) != 0);
  ::close(ends[0]);
}

TEST_CASE("a burst of wakes costs at most one write per sleep of the loop, and none of them is lost",
          "[engine][curl_pool]") {
  CurlPool pool;
  std::atomic<bool> done{false};
  constexpr int bursts = 200, burst_size = 50;
  std::thread waker([&] {
    for (int burst = 0; burst < bursts; ++burst) {
      for (int i = 0; i < burst_size; ++i) pool.wake();
      std::this_thread::yield();
    }
    done = true;
    pool.wake();  // the loop must see this one, whatever the wakes before it did
  });
  uint64_t polls = 0;
  while (!done) {
    int ready = -1;
    REQUIRE(pool.poll(long_wait_ms, ready).empty());
    CHECK(ready == 0);
    ++polls;
  }
  waker.join();
  // A wake writes the descriptor only when it is the first the sleeping loop has not seen.
  CHECK(pool.wakeups_sent() <= polls);
}

TEST_CASE("libcurl's connection cache keeps the floor's connections, or four per running transfer when more",
          "[engine][curl_pool]") {
  CurlPool pool;
  CHECK(pool.connection_cache_size() == CurlPool::connection_cache_floor);
  pool.size_connection_cache(3);
  CHECK(pool.connection_cache_size() == CurlPool::connection_cache_floor);
  pool.size_connection_cache(10'000);
  CHECK(pool.connection_cache_size() == 40'000);
  pool.size_connection_cache(0);  // the streams ended: the idle connections past the floor go as others come back
  CHECK(pool.connection_cache_size() == CurlPool::connection_cache_floor);
}
