// The host's side of the channel to a plugin worker (ProcessBackend), driven as the engine drives
// it: watch, poll, ready, deadlines. Workers that misbehave on the wire (tests/isolation/channel/
// fake_worker.cpp) cost their own sessions, with the cause; none makes a call of the backend wait;
// and one real worker carries many sessions at once.
#include <poll.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <provhost/core/registry.hpp>
#include <string>
#include <vector>

#include "engine/deadlines.hpp"
#include "engine/lane_backend.hpp"
#include "isolation/process_backend.hpp"

namespace fs = std::filesystem;
using namespace provhost::core;
using namespace provhost::core::engine;
using namespace std::chrono_literals;

namespace {

// Only a backend that lost track of a worker takes this long: the tests' timeouts are far shorter.
constexpr auto hang_bound = 60s;

struct Seen {
  SessionResult::Kind kind;
  SessionId session;
  std::string message;
};

// A ProcessBackend over one provider, run as the engine runs it.
class Harness {
 public:
  // `worker` "": the real worker; `file` the plugin file it is given.
  Harness(const fs::path &worker, const fs::path &file, std::chrono::milliseconds call_timeout) {
    options_.worker = worker;
    options_.call_timeout = call_timeout;
    options_.sandbox = false;
    if (worker.empty()) {
      registry_.use_isolation(options_);
      registry_.load({file.parent_path()});
    } else {
      auto provider = std::make_unique<LoadedProvider>();
      provider->meta.name = "Fake";
      provider->file = file;
      REQUIRE_FALSE(registry_.add(std::move(provider)));
    }
    backend_ = make_process_backend(registry_, options_, deadlines_);
  }
  ~Harness() { backend_->shutdown(); }

  void open(SessionId session, const std::string &provider = "Fake") {
    SessionWork &item = work_.add();
    item.kind = SessionWork::Kind::open;
    item.session = session;
    item.provider = provider;
    item.model = "raw-model";
    item.spec.messages = {{"user", "Hi"}};
  }
  void body(SessionId session, size_t size) {
    SessionWork &item = work_.add();
    item.kind = SessionWork::Kind::body;
    item.session = session;
    item.bytes.assign(size, 'x');
  }
  void response_start(SessionId session) {
    SessionWork &item = work_.add();
    item.kind = SessionWork::Kind::response_start;
    item.session = session;
    item.status = 200;
  }
  void close(SessionId session) {
    SessionWork &item = work_.add();
    item.kind = SessionWork::Kind::close;
    item.session = session;
  }
  void submit() { backend_->submit(work_); }
  // The backend reads its options as it goes: a call started from now has this long.
  void set_call_timeout(std::chrono::milliseconds timeout) { options_.call_timeout = timeout; }

  // What the next poll would watch.
  std::vector<PollWatch> watches() {
    std::vector<PollWatch> watches;
    backend_->watch(watches);
    return watches;
  }

  // Polls, does the I/O and fires the deadlines, as the engine's loop does, until `done` (true) or
  // hang_bound (false).
  template <class Done>
  bool run_until(Done &&done) {
    const auto give_up = Clock::now() + hang_bound;
    for (;;) {
      collect();
      if (done()) return true;
      if (Clock::now() > give_up) return false;
      std::vector<PollWatch> watched = watches();
      std::vector<pollfd> fds;
      for (const PollWatch &w : watched) fds.push_back(pollfd{w.fd, w.events, 0});
      TimePoint next = std::min(deadlines_.next(), Clock::now() + 100ms);
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
      ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, wait.count())));
      for (size_t i = 0; i < fds.size(); ++i) watched[i].revents = fds[i].revents & (POLLIN | POLLOUT | POLLHUP);
      for (PollWatch &w : watched)
        if (w.revents & POLLHUP) w.revents = static_cast<short>(w.revents | POLLIN);  // as libcurl reports it
      backend_->ready(watched);
      std::vector<Deadline> due;
      deadlines_.pop_due(Clock::now(), due);
      for (const Deadline &d : due) backend_->deadline_due(d.owner, Clock::now());
    }
  }

  void collect() {
    backend_->collect(results_);
    for (size_t i = 0; i < results_.size(); ++i)
      seen.push_back({results_[i].kind, results_[i].session, results_[i].error.message()});
    results_.clear();
  }

  size_t count(SessionResult::Kind kind) const {
    return static_cast<size_t>(std::count_if(seen.begin(), seen.end(), [&](const Seen &s) { return s.kind == kind; }));
  }
  const Seen *find(SessionId session, SessionResult::Kind kind) const {
    for (const Seen &s : seen)
      if (s.session == session && s.kind == kind) return &s;
    return nullptr;
  }
  bool has(SessionId session, SessionResult::Kind kind) const { return find(session, kind) != nullptr; }
  // Runs until `session` has a result of `kind` (true) or hang_bound (false).
  bool wait_for(SessionId session, SessionResult::Kind kind) {
    return run_until([&] { return has(session, kind); });
  }
  // Opens `session` and runs until it is open (true) or hang_bound (false).
  bool open_and_wait(SessionId session) {
    open(session);
    submit();
    return wait_for(session, SessionResult::Kind::opened);
  }

  std::vector<Seen> seen;

 private:
  Registry registry_;
  IsolationOptions options_;
  DeadlineQueue deadlines_;
  std::unique_ptr<SessionBackend> backend_;
  Batch<SessionWork> work_;
  Batch<SessionResult> results_;
};

const fs::path fake_worker = PROVHOST_FAKE_WORKER;
fs::path fake(const std::string &mode) { return fs::path("/nonexistent") / (mode + ".so"); }

bool writes_pending(const std::vector<PollWatch> &watches) {
  return std::any_of(watches.begin(), watches.end(), [](const PollWatch &w) { return (w.events & POLLOUT) != 0; });
}

}  // namespace

TEST_CASE("a worker that stops reading while frames are queued is killed at the call timeout", "[isolation][channel]") {
  // A long timeout while the worker starts (however loaded the machine), a short one once it runs.
  Harness harness(fake_worker, fake("stall"), 30s);
  REQUIRE(harness.open_and_wait(1));
  harness.set_call_timeout(300ms);
  // Far more than the body region and the socket's buffers hold: most of the frame must wait.
  harness.body(1, 32u << 20);
  harness.submit();
  CHECK(writes_pending(harness.watches()));
  harness.open(2);  // queued behind the frame in progress
  harness.submit();
  REQUIRE(harness.wait_for(1, SessionResult::Kind::failed));
  REQUIRE(harness.has(1, SessionResult::Kind::failed));  // the same worker held it
  CHECK(harness.find(1, SessionResult::Kind::failed)->message ==
        "Fake: the plugin did not answer within 0.3 s (killed)");
  CHECK_FALSE(harness.has(2, SessionResult::Kind::opened));
}

TEST_CASE("a worker that dies with frames queued fails its sessions, and the next start backs off",
          "[isolation][channel]") {
  Harness harness(fake_worker, fake("die"), 30s);
  REQUIRE(harness.open_and_wait(1));
  harness.body(1, 32u << 20);  // the worker dies while this frame is on its way
  harness.submit();
  harness.open(2);  // queued behind it: goes to the next worker
  harness.submit();
  REQUIRE(harness.wait_for(1, SessionResult::Kind::failed));
  CHECK(harness.find(1, SessionResult::Kind::failed)->message == "Fake: the plugin exited with status 7");
  // The first death is restarted at once; deaths that keep coming are restarted later and later
  // (0.1 s, 0.2 s, ...), and a session that needs a worker meanwhile fails at once, saying why.
  REQUIRE(harness.wait_for(2, SessionResult::Kind::opened));
  const Seen *refused = nullptr;
  for (SessionId session = 2; session < 12 && !refused; ++session) {
    if (session > 2) {
      harness.open(session);
      harness.submit();
      harness.collect();
      refused = harness.find(session, SessionResult::Kind::failed);
      if (refused) break;
      REQUIRE(harness.wait_for(session, SessionResult::Kind::opened));
    }
    harness.body(session, 10);
    harness.submit();
    REQUIRE(harness.wait_for(session, SessionResult::Kind::failed));
    CHECK(harness.find(session, SessionResult::Kind::failed)->message == "Fake: the plugin exited with status 7");
  }
  REQUIRE(refused);
  CHECK_THAT(refused->message,
             Catch::StartsWith("Fake: the plugin's worker is restarting after: the plugin exited with status 7 "
                               "(next start in "));
}

TEST_CASE("frames that arrive in pieces are read whole, the hello included", "[isolation][channel]") {
  Harness harness(fake_worker, fake("pieces"), 30s);
  for (SessionId session = 1; session <= 20; ++session) {
    harness.open(session);
    harness.submit();  // one frame at a time goes out; the rest are batched behind it
  }
  REQUIRE(harness.run_until([&] { return harness.count(SessionResult::Kind::opened) == 20; }));
  CHECK(harness.count(SessionResult::Kind::failed) == 0);
}

TEST_CASE("a frame cut short and never finished is a call that did not answer", "[isolation][channel]") {
  Harness harness(fake_worker, fake("half"), 30s);
  REQUIRE(harness.open_and_wait(1));
  harness.set_call_timeout(300ms);
  harness.open(2);  // answered by half a frame
  harness.submit();
  REQUIRE(harness.wait_for(2, SessionResult::Kind::failed));
  CHECK(harness.find(2, SessionResult::Kind::failed)->message ==
        "Fake: the plugin did not answer within 0.3 s (killed)");
  REQUIRE(harness.has(1, SessionResult::Kind::failed));  // the same worker held it
  CHECK(harness.find(1, SessionResult::Kind::failed)->message ==
        "Fake: the plugin did not answer within 0.3 s (killed)");
  CHECK_FALSE(harness.has(2, SessionResult::Kind::opened));
}

TEST_CASE("a frame nobody asked for ends the worker as unreadable", "[isolation][channel]") {
  Harness harness(fake_worker, fake("unasked"), 30s);
  harness.open(1);
  harness.submit();
  REQUIRE(harness.wait_for(1, SessionResult::Kind::failed));
  CHECK(harness.has(1, SessionResult::Kind::opened));
  CHECK(harness.find(1, SessionResult::Kind::failed)->message ==
        "Fake: the plugin's worker sent an unreadable answer (killed)");
}

TEST_CASE("a worker that never says hello fails the sessions waiting for it, and starting it waited for nothing",
          "[isolation][channel]") {
  Harness harness(fake_worker, fake("no-hello"), 300ms);
  harness.open(1);
  harness.submit();
  harness.collect();
  CHECK(harness.seen.empty());  // the start is under way, not waited for
  REQUIRE(harness.wait_for(1, SessionResult::Kind::failed));
  CHECK(harness.find(1, SessionResult::Kind::failed)->message ==
        "Fake: the plugin did not answer within 0.3 s (killed)");
}

TEST_CASE("one worker carries many sessions at once, and each is closed", "[isolation][channel]") {
  Harness harness("", fs::path(PROVHOST_HOSTILE_SESSION_DIR) / "provhost-calm.so", 30s);
  constexpr SessionId sessions = 500;
  for (SessionId session = 1; session <= sessions; ++session) {
    harness.open(session, "Calm");
    if (session % 50 == 0) harness.submit();  // several batches, some while a frame is in flight
  }
  REQUIRE(harness.run_until([&] { return harness.count(SessionResult::Kind::opened) == sessions; }));
  CHECK(harness.count(SessionResult::Kind::failed) == 0);
  CHECK(harness.watches().size() == 1);  // one worker
  for (SessionId session = 1; session <= sessions; ++session) harness.close(session);
  harness.submit();
  REQUIRE(harness.run_until([&] { return harness.count(SessionResult::Kind::closed) == sessions; }));
}

TEST_CASE("a real worker reads a frame far larger than its buffer, arriving in many pieces", "[isolation][channel]") {
  Harness harness("", fs::path(PROVHOST_HOSTILE_SESSION_DIR) / "provhost-calm.so", 30s);
  harness.open(1, "Calm");
  harness.submit();
  REQUIRE(harness.wait_for(1, SessionResult::Kind::opened));
  harness.response_start(1);
  harness.body(1, 32u << 20);  // beyond the body region: in the frame, through the socket
  harness.submit();
  REQUIRE(harness.wait_for(1, SessionResult::Kind::body_taken));
  CHECK(harness.count(SessionResult::Kind::failed) == 0);
}
