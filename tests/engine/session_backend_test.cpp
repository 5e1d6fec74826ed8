// The SessionBackend contract, driven directly with Probe: batches of plain data in, results out in
// order, plugin calls on the backend's threads, buffers reused from one batch to the next.
#include "session_backend.hpp"

#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <provhost/core/registry.hpp>
#include <tuple>

using namespace provhost::core;
using namespace provhost::core::engine;
using Kind = SessionResult::Kind;

namespace {

// A backend and the results it posted, gathered as the engine would after each wake-up.
class Driver {
 public:
  explicit Driver(const Registry &registry)
      : backend_(make_in_process_backend(registry, [this] {
          std::lock_guard lock(mutex_);
          ++wakes_;
          woken_.notify_all();
        })) {}

  SessionWork &add(SessionWork::Kind kind, SessionId session) {
    SessionWork &item = work_.add();
    item.kind = kind;
    item.session = session;
    return item;
  }
  void submit() { backend_->submit(work_); }

  // Waits (bounded) until `count` results came, and returns them as (kind, text) in order.
  std::vector<std::pair<Kind, std::string>> results(size_t count) {
    std::vector<std::pair<Kind, std::string>> seen;
    while (seen.size() < count) {
      {
        std::unique_lock lock(mutex_);
        if (!woken_.wait_for(lock, std::chrono::seconds(10), [&] { return wakes_ > 0; })) break;
        wakes_ = 0;
      }
      Batch<SessionResult> batch;
      backend_->collect(batch);
      for (size_t i = 0; i < batch.size(); ++i) {
        seen.emplace_back(batch[i].kind, batch[i].text);
        last_.push_back(batch[i]);
      }
    }
    return seen;
  }
  const std::vector<SessionResult> &all() const { return last_; }
  // What session `id` got so far, in order, as (kind, text).
  std::vector<std::pair<Kind, std::string>> of(SessionId id) const {
    std::vector<std::pair<Kind, std::string>> seen;
    for (const SessionResult &result : last_) {
      if (result.session == id) seen.emplace_back(result.kind, result.text);
    }
    return seen;
  }
  SessionBackend &backend() { return *backend_; }

 private:
  std::unique_ptr<SessionBackend> backend_;
  Batch<SessionWork> work_;
  std::mutex mutex_;
  std::condition_variable woken_;
  int wakes_ = 0;
  std::vector<SessionResult> last_;
};

ChatSpec probe_spec(std::string options = "{}") {
  ChatSpec spec;
  spec.messages = {{"user", "Hello"}};
  spec.options_json = std::move(options);
  return spec;
}

void open(Driver &driver, SessionId id, const std::string &options = "{}") {
  SessionWork &item = driver.add(SessionWork::Kind::open, id);
  item.provider = "Probe";
  item.model = "probe-1";
  item.spec = probe_spec(options);
}

}  // namespace

TEST_CASE("a batch hands its items out again with their buffers, empty") {
  Batch<SessionWork> batch;
  batch.add().bytes.assign(1000, 'x');
  const char *buffer = batch[0].bytes.data();
  batch.clear();
  CHECK(batch.empty());
  SessionWork &again = batch.add();
  CHECK(again.bytes.empty());
  again.bytes.assign(500, 'y');
  CHECK(again.bytes.data() == buffer);  // no allocation for a chunk that fits

  Batch<SessionWork> other;
  other.add().bytes.assign(1, 'z');
  batch.append_from(other);
  CHECK(other.empty());
  REQUIRE(batch.size() == 2);
  CHECK(batch[1].bytes == "z");
}

TEST_CASE("the in-process backend runs a session's work in order and posts one result per call") {
  Registry registry;
  registry.load({PROBE_PLUGIN_DIR});
  REQUIRE(registry.find("Probe"));
  Driver driver(registry);
  open(driver, 1);
  driver.add(SessionWork::Kind::next_request, 1);
  SessionWork &start = driver.add(SessionWork::Kind::response_start, 1);
  start.status = 200;
  driver.add(SessionWork::Kind::body, 1).bytes = "Hel";
  driver.add(SessionWork::Kind::body, 1).bytes = "lo";
  driver.add(SessionWork::Kind::response_end, 1);  // the next request comes unasked
  driver.add(SessionWork::Kind::close, 1);
  driver.submit();
  auto results = driver.results(8);
  std::vector<std::pair<Kind, std::string>> expected{
      {Kind::opened, ""},       {Kind::request, ""},        {Kind::action, ""},           {Kind::body_taken, "Hel"},
      {Kind::body_taken, "lo"}, {Kind::response_ended, ""}, {Kind::no_more_requests, ""}, {Kind::closed, ""}};
  CHECK(results == expected);
  REQUIRE(driver.all().size() == 8);
  CHECK(driver.all()[1].request.method == "POST");
  CHECK(driver.all()[1].request.url == "https://probe.invalid/v1/chat/completions");
  CHECK(driver.all()[2].action == PH_RESPONSE_READ);
  CHECK(driver.all()[6].finished);
}

TEST_CASE("after PH_DONE (the next request follows unasked) or a failure the rest of a response is not the session's") {
  Registry registry;
  registry.load({PROBE_PLUGIN_DIR});
  Driver driver(registry);
  open(driver, 1, R"({"done_after": 3})");
  open(driver, 2, R"({"throw_in": "on_body"})");
  for (SessionId id : {1, 2}) {
    driver.add(SessionWork::Kind::next_request, id);
    driver.add(SessionWork::Kind::response_start, id).status = 200;
    driver.add(SessionWork::Kind::body, id).bytes = "abcdef";
    driver.add(SessionWork::Kind::body, id).bytes = "ghi";
    driver.add(SessionWork::Kind::response_end, id);
    driver.add(SessionWork::Kind::close, id);
  }
  driver.add(SessionWork::Kind::close, 99);  // never opened: closed all the same
  driver.submit();
  driver.results(12);
  // Order holds within a session; sessions interleave as their threads run.
  CHECK(driver.of(1) == std::vector<std::pair<Kind, std::string>>{{Kind::opened, ""},
                                                                  {Kind::request, ""},
                                                                  {Kind::action, ""},
                                                                  {Kind::body_taken, "abc"},
                                                                  {Kind::no_more_requests, ""},
                                                                  {Kind::closed, ""}});
  CHECK(driver.of(2) ==
        std::vector<std::pair<Kind, std::string>>{
            {Kind::opened, ""}, {Kind::request, ""}, {Kind::action, ""}, {Kind::failed, ""}, {Kind::closed, ""}});
  CHECK(driver.of(99) == std::vector<std::pair<Kind, std::string>>{{Kind::closed, ""}});
  for (const SessionResult &result : driver.all()) {
    if (result.kind == Kind::body_taken) CHECK(result.answer_complete);
    if (result.kind == Kind::failed) {
      CHECK(result.error.kind == ErrorKind::plugin);
      CHECK(result.error.message() == "Probe: the plugin threw an exception from on_body: probe: thrown on purpose");
    }
  }
}

TEST_CASE("a response's first body bytes travel with its start: read at once, or handed back") {
  Registry registry;
  registry.load({PROBE_PLUGIN_DIR});
  Driver driver(registry);
  for (SessionId id : {1, 2}) {
    open(driver, id);
    driver.add(SessionWork::Kind::next_request, id);
    SessionWork &start = driver.add(SessionWork::Kind::response_start, id);
    start.status = id == 1 ? 200 : 500;
    start.bytes = id == 1 ? "first bytes" : R"({"error": "down"})";
  }
  driver.submit();
  driver.results(7);
  std::vector<std::tuple<SessionId, Kind, std::string, std::string>> seen;
  for (const SessionResult &result : driver.all()) {
    if (result.kind != Kind::opened && result.kind != Kind::request) {
      seen.emplace_back(result.session, result.kind, result.text, result.bytes);
    }
  }
  CHECK(seen == std::vector<std::tuple<SessionId, Kind, std::string, std::string>>{
                    {1, Kind::action, "", ""},
                    {1, Kind::body_taken, "first bytes", ""},
                    {2, Kind::action, "", R"({"error": "down"})"}});
}

TEST_CASE("a response that came whole ends in its start's batch; only a session that reads it takes the end") {
  Registry registry;
  registry.load({PROBE_PLUGIN_DIR});
  Driver driver(registry);
  for (SessionId id : {1, 2}) {
    open(driver, id);
    driver.add(SessionWork::Kind::next_request, id);
    SessionWork &start = driver.add(SessionWork::Kind::response_start, id);
    start.status = id == 1 ? 200 : 500;
    start.bytes = id == 1 ? "whole" : R"({"error": "down"})";
    driver.add(SessionWork::Kind::response_end, id);
  }
  driver.submit();
  driver.results(9);
  // Read: the body, the end and the next request's answer, all from the one batch.
  CHECK(driver.of(1) == std::vector<std::pair<Kind, std::string>>{{Kind::opened, ""},
                                                                  {Kind::request, ""},
                                                                  {Kind::action, ""},
                                                                  {Kind::body_taken, "whole"},
                                                                  {Kind::response_ended, ""},
                                                                  {Kind::no_more_requests, ""}});
  // Not read (an HTTP error the host maps): the bytes go back, and the end is not the session's.
  CHECK(driver.of(2) ==
        std::vector<std::pair<Kind, std::string>>{{Kind::opened, ""}, {Kind::request, ""}, {Kind::action, ""}});
  REQUIRE(driver.all().size() == 9);
  for (const SessionResult &result : driver.all()) {
    if (result.session == 2 && result.kind == Kind::action) {
      CHECK(result.action != PH_RESPONSE_READ);
      CHECK(result.bytes == R"({"error": "down"})");
    }
  }
}

TEST_CASE("a close the backend answers on the engine's own thread is pending for the engine until collected") {
  Registry registry;
  registry.load({PROBE_PLUGIN_DIR});
  Driver driver(registry);
  CHECK_FALSE(driver.backend().results_pending());
  driver.add(SessionWork::Kind::close, 99);  // never opened: no lane, answered by the backend itself
  driver.submit();
  CHECK(driver.backend().results_pending());  // the engine polls without waiting, and collects
  Batch<SessionResult> batch;
  driver.backend().collect(batch);
  REQUIRE(batch.size() == 1);
  CHECK(batch[0].kind == Kind::closed);
  CHECK_FALSE(driver.backend().results_pending());
}
