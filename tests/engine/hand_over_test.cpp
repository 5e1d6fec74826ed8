// The hand-overs between the engine's thread and the lanes: the Doorbell a lane sleeps at, and
// the whole round trip (engine -> lane -> outbox -> CurlPool's wake) under many threads and many
// rounds. A lost wake-up would leave a sleeper waiting for what is already there; the sleeps here
// are bounded far beyond any honest hand-over, and one that runs out fails the test.
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "curl_pool.hpp"
#include "doorbell.hpp"
#include "lane_backend.hpp"

using namespace provhost::core::engine;

namespace {

// Far beyond any scheduling delay: only a lost wake-up sleeps this long.
constexpr int lost_wake_ms = 60'000;

// A lane that answers every item of work with one result of the same session, as the session
// runners do, on its own thread.
class EchoLane final : public ThreadLane {
 public:
  explicit EchoLane(Outbox &outbox) : ThreadLane(outbox) { start(); }
  ~EchoLane() override { stop(); }

 private:
  void process(Batch<SessionWork> &working, Batch<SessionResult> &produced) override {
    for (size_t i = 0; i < working.size(); ++i) {
      SessionResult &out = produced.add();
      out.kind = SessionResult::Kind::opened;
      out.session = working[i].session;
    }
  }
  void finish() override {}
};

}  // namespace

TEST_CASE("a doorbell rung before the wait is kept: the wait returns at once, without a system call",
          "[engine][doorbell]") {
  Doorbell bell;
  bell.ring();
  bell.ring();  // rings between two waits count as one
  bell.wait();
  CHECK(bell.wakeups_sent() == 0);
}

TEST_CASE("a doorbell wakes its sleeper, and no ring of many threads over many rounds is lost", "[engine][doorbell]") {
  constexpr int ringers = 4;
  constexpr int rounds = 20'000;
  Doorbell bell;
  std::atomic<int> posted{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < ringers; ++r) {
    threads.emplace_back([&] {
      for (int i = 0; i < rounds; ++i) {
        posted.fetch_add(1);
        bell.ring();
        if (i % 64 == 0) std::this_thread::yield();  // now and then the sleeper gets to sleep
      }
    });
  }
  // The sleeper's pattern: look, then wait; every post is seen, or the wait never returns (the
  // suite's timeout).
  int seen = 0;
  while (seen < ringers * rounds) {
    int now = posted.load();
    if (now == seen) {
      bell.wait();
      continue;
    }
    seen = now;
  }
  for (auto &thread : threads) thread.join();
  CHECK(seen == ringers * rounds);
}

TEST_CASE("many lanes posting while the engine goes to sleep in poll: every result arrives",
          "[engine][doorbell][curl_pool]") {
  CurlPool pool;
  Outbox outbox;
  outbox.wake = [&pool] { pool.wake(); };
  constexpr int lane_count = 4;
  constexpr int rounds = 3'000;
  std::vector<std::unique_ptr<EchoLane>> lanes;
  for (int i = 0; i < lane_count; ++i) lanes.push_back(std::make_unique<EchoLane>(outbox));

  // The engine's side, as Engine::Impl::loop does it: hand each lane a batch, then poll until
  // the results are back, collecting whatever the outbox holds after each poll.
  Batch<SessionWork> item;
  Batch<SessionResult> results;
  size_t received = 0;
  int polls = 0;
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < lane_count; ++i) {
      SessionWork &work = item.add();
      work.kind = SessionWork::Kind::open;
      work.session = static_cast<SessionId>(round * lane_count + i + 1);
      lanes[i]->queue(work);
      item.clear();
      lanes[i]->flush();
    }
    const size_t expected = static_cast<size_t>(round + 1) * lane_count;
    while (received < expected) {
      {
        std::lock_guard lock(outbox.mutex);
        outbox.results.swap(results);
      }
      received += results.size();
      results.clear();
      if (received >= expected) break;
      auto before = std::chrono::steady_clock::now();
      int ready = -1;
      REQUIRE(pool.poll(lost_wake_ms, ready).empty());
      ++polls;
      // A poll that ran its whole course slept through a wake-up: results were on their way.
      REQUIRE(std::chrono::steady_clock::now() - before < std::chrono::milliseconds(lost_wake_ms));
      CHECK(ready == 0);  // the wake-up is not one of libcurl's sockets
    }
  }
  lanes.clear();
  CHECK(received == static_cast<size_t>(rounds) * lane_count);
  CHECK(polls > 0);
}
