// The engine's decisions (retry, fallback, deadlines, failed transfers) as pure functions, on a
// fake clock: time points made up from a fixed origin, no libcurl, no plugin.
#include "decisions.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <provhost/core/error.hpp>

#include "deadlines.hpp"

using namespace provhost::core;
using namespace provhost::core::engine;
using std::chrono::seconds;

namespace {

const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

RetryFacts retryable() {
  RetryFacts facts;
  facts.policy = RetryPolicy{3, 1000, 2, PH_RETRY_ON_CONNECT_ERROR | PH_RETRY_ON_RATE_LIMIT};
  facts.attempt = 1;
  facts.failure = PH_RETRY_ON_CONNECT_ERROR;
  facts.deadline = t0 + seconds(60);
  return facts;
}

}  // namespace

TEST_CASE("a covered failure is retried after the policy's backoff") {
  RetryFacts facts = retryable();
  CHECK(decide_retry(facts, t0) == milliseconds(1000));
  facts.attempt = 2;
  CHECK(decide_retry(facts, t0) == milliseconds(2000));
  facts.backoff_scale = 0.5;
  CHECK(decide_retry(facts, t0) == milliseconds(1000));
}

TEST_CASE("no retry once the policy, the answer, the caller or the deadline says no") {
  RetryFacts facts = retryable();
  SECTION("a failure the policy does not cover") {
    facts.failure = PH_RETRY_ON_TIMEOUT;
    CHECK_FALSE(decide_retry(facts, t0));
  }
  SECTION("a failure no flag covers") {
    facts.failure = 0;
    CHECK_FALSE(decide_retry(facts, t0));
  }
  SECTION("the last attempt") {
    facts.attempt = 3;
    CHECK_FALSE(decide_retry(facts, t0));
  }
  SECTION("body bytes reached the session") {
    facts.body_fed = true;
    CHECK_FALSE(decide_retry(facts, t0));
  }
  SECTION("text reached the sink") {
    facts.answering = true;
    CHECK_FALSE(decide_retry(facts, t0));
  }
  SECTION("the chat was cancelled") {
    facts.cancelled = true;
    CHECK_FALSE(decide_retry(facts, t0));
  }
  SECTION("the wait would end at or past the chat's deadline") {
    CHECK(decide_retry(facts, t0 + seconds(58)));
    CHECK_FALSE(decide_retry(facts, t0 + seconds(59)));
  }
}

TEST_CASE("a rate limit waits the Retry-After the upstream asks for, scaled") {
  RetryFacts facts = retryable();
  facts.failure = PH_RETRY_ON_RATE_LIMIT;
  facts.retry_after = "7";
  facts.backoff_scale = 0.1;
  CHECK(decide_retry(facts, t0) == milliseconds(700));
  SECTION("an unreadable Retry-After falls back to the backoff") {
    facts.retry_after = "soon";
    CHECK(decide_retry(facts, t0) == milliseconds(100));
  }
  SECTION("Retry-After counts only for rate limits") {
    facts.failure = PH_RETRY_ON_CONNECT_ERROR;
    CHECK(decide_retry(facts, t0) == milliseconds(100));
  }
}

TEST_CASE("fallback happens only before the answer, in time, while providers are left") {
  FallbackFacts facts{false, false, t0 + seconds(10), 1, 3};
  CHECK(may_fall_back(facts, t0));
  CHECK_FALSE(may_fall_back(facts, t0 + seconds(10)));
  FallbackFacts answering = facts;
  answering.answering = true;
  CHECK_FALSE(may_fall_back(answering, t0));
  FallbackFacts cancelled = facts;
  cancelled.cancelled = true;
  CHECK_FALSE(may_fall_back(cancelled, t0));
  FallbackFacts last = facts;
  last.next_candidate = 3;
  CHECK_FALSE(may_fall_back(last, t0));
}

TEST_CASE("the final error is the only failure, or names every provider's") {
  ChatError a = make_error(ErrorKind::blocked, "A", "blocked");
  ChatError b = make_error(ErrorKind::timeout, "B", "timed out after 1 s");
  ChatError one = final_error({a});
  CHECK(one.message() == "A: blocked");
  CHECK(one.attempts.size() == 1);
  ChatError both = final_error({a, b});
  CHECK(both.message() == "all providers failed: A: blocked; B: timed out after 1 s");
  CHECK(both.kind == ErrorKind::timeout);
  CHECK(both.provider.empty());  // no one provider: the detail names each
  REQUIRE(both.attempts.size() == 2);
  CHECK(both.attempts[0].message() == "A: blocked");
}

TEST_CASE("transfer deadlines expire with the messages users see, and only while they apply") {
  Timeouts limits{2000, 5000, 3000, 0};
  TransferClock clock;
  clock.started = t0;
  clock.last_data = t0;

  SECTION("connect: until the request is on its way") {
    CHECK(transfer_deadline(DeadlineKind::connect, clock, limits) == t0 + seconds(2));
    CHECK(check_transfer_deadline(DeadlineKind::connect, clock, limits, t0 + seconds(1)).next == t0 + seconds(2));
    DeadlineCheck late = check_transfer_deadline(DeadlineKind::connect, clock, limits, t0 + seconds(2));
    REQUIRE(late.expired);
    CHECK(late.expired->kind == ErrorKind::timeout);
    CHECK(late.expired->what == "timed out connecting after 2 s");
    CHECK(late.expired->retry_on == PH_RETRY_ON_TIMEOUT);
    clock.request_sent = t0 + seconds(1);
    DeadlineCheck moot = check_transfer_deadline(DeadlineKind::connect, clock, limits, t0 + seconds(2));
    CHECK_FALSE(moot.expired);
    CHECK(moot.next == never);
  }
  SECTION("first byte: from the request sent to the first byte") {
    CHECK(transfer_deadline(DeadlineKind::first_byte, clock, limits) == never);
    clock.request_sent = t0 + seconds(1);
    DeadlineCheck late = check_transfer_deadline(DeadlineKind::first_byte, clock, limits, t0 + seconds(6));
    REQUIRE(late.expired);
    CHECK(late.expired->what == "no response within 5 s");
    clock.first_byte = t0 + seconds(2);
    CHECK_FALSE(check_transfer_deadline(DeadlineKind::first_byte, clock, limits, t0 + seconds(6)).expired);
  }
  SECTION("idle: moves with the data, and waits while we hold the transfer back") {
    clock.request_sent = t0;
    clock.first_byte = t0 + seconds(1);
    clock.last_data = t0 + seconds(4);
    DeadlineCheck moved = check_transfer_deadline(DeadlineKind::idle, clock, limits, t0 + seconds(4));
    CHECK_FALSE(moved.expired);
    CHECK(moved.next == t0 + seconds(7));
    DeadlineCheck late = check_transfer_deadline(DeadlineKind::idle, clock, limits, t0 + seconds(7));
    REQUIRE(late.expired);
    CHECK(late.expired->kind == ErrorKind::stalled);
    CHECK(late.expired->what == "stalled: no data for 3 s");
    CHECK(late.expired->retry_on == 0);
    clock.paused = true;
    DeadlineCheck held = check_transfer_deadline(DeadlineKind::idle, clock, limits, t0 + seconds(7));
    CHECK_FALSE(held.expired);
    CHECK(held.next == t0 + seconds(10));
  }
  SECTION("attempt: the plugin's limit for one request, from its start") {
    CHECK(transfer_deadline(DeadlineKind::attempt, clock, limits) == never);
    clock.attempt_timeout_ms = 300;
    DeadlineCheck late = check_transfer_deadline(DeadlineKind::attempt, clock, limits, t0 + milliseconds(300));
    REQUIRE(late.expired);
    CHECK(late.expired->what == "timed out after 0.3 s");
    CHECK(late.expired->retry_on == PH_RETRY_ON_TIMEOUT);
  }
  SECTION("a limit of 0 is no deadline") {
    Timeouts none{0, 0, 0, 0};
    clock.request_sent = t0;
    clock.first_byte = t0;
    for (DeadlineKind kind : {DeadlineKind::connect, DeadlineKind::first_byte, DeadlineKind::idle}) {
      INFO(to_string(kind));
      CHECK(transfer_deadline(kind, clock, none) == never);
    }
  }
}

TEST_CASE("a failed transfer is truncation, an HTTP error, or a retryable attempt failure") {
  TransportFacts facts;
  facts.reason = "Connection reset by peer";
  SECTION("nothing came back: a connection failure") {
    TransportDecision decision = classify_transport_failure(facts);
    CHECK(decision.verdict == TransportVerdict::retryable);
    CHECK(decision.kind == ErrorKind::connection);
    CHECK(decision.what == "connection failed: Connection reset by peer");
    CHECK(decision.retry_on == PH_RETRY_ON_CONNECT_ERROR);
  }
  SECTION("libcurl's connect timeout") {
    facts.timed_out = true;
    facts.connect_ms = 1500;
    TransportDecision decision = classify_transport_failure(facts);
    CHECK(decision.kind == ErrorKind::timeout);
    CHECK(decision.what == "timed out connecting after 1.5 s");
    CHECK(decision.retry_on == PH_RETRY_ON_TIMEOUT);
  }
  SECTION("the answer had begun") {
    facts.response_started = true;
    TransportDecision decision = classify_transport_failure(facts);
    CHECK(decision.verdict == TransportVerdict::truncated);
    CHECK(decision.what == "stream truncated: Connection reset by peer");
  }
  SECTION("an error response was being read") {
    facts.response_started = true;
    facts.action = PH_RESPONSE_HTTP_ERROR;
    CHECK(classify_transport_failure(facts).verdict == TransportVerdict::http_error);
  }
}

TEST_CASE("seconds are written without trailing zeros") {
  CHECK(seconds_text(milliseconds(5000)) == "5 s");
  CHECK(seconds_text(milliseconds(250)) == "0.25 s");
  CHECK(seconds_text(milliseconds(1001)) == "1.001 s");
  CHECK(seconds_text(milliseconds(-3)) == "0 s");
}

TEST_CASE("the deadline queue hands out due deadlines earliest first, and compacts dead owners") {
  DeadlineQueue queue;
  CHECK(queue.next() == never);
  queue.arm(t0 + seconds(3), DeadlineKind::idle, 1);
  queue.arm(t0 + seconds(1), DeadlineKind::connect, 2);
  queue.arm(never, DeadlineKind::total, 3);
  queue.arm(t0 + seconds(2), DeadlineKind::total, 3);
  CHECK(queue.size() == 3);
  CHECK(queue.next() == t0 + seconds(1));
  std::vector<Deadline> due;
  queue.pop_due(t0 + seconds(2), due);
  REQUIRE(due.size() == 2);
  CHECK(due[0].owner == 2);
  CHECK(due[0].kind == DeadlineKind::connect);
  CHECK(due[1].owner == 3);
  CHECK(queue.next() == t0 + seconds(3));
  queue.arm(t0 + seconds(5), DeadlineKind::drain, 4);
  queue.compact([](uint64_t owner) { return owner != 1; });
  CHECK(queue.size() == 1);
  CHECK(queue.next() == t0 + seconds(5));
}

TEST_CASE("compacting the deadline queue can tell owners of different kinds apart", "[engine][deadlines]") {
  DeadlineQueue queue;
  queue.arm(t0 + seconds(1), DeadlineKind::total, 7);
  queue.arm(t0 + seconds(2), DeadlineKind::backend, 7);  // the same id, but a worker's
  queue.compact([](const Deadline &d) { return d.kind == DeadlineKind::backend; });
  REQUIRE(queue.size() == 1);
  std::vector<Deadline> due;
  queue.pop_due(t0 + seconds(2), due);
  REQUIRE(due.size() == 1);
  CHECK(due[0].kind == DeadlineKind::backend);
  CHECK(to_string(DeadlineKind::backend) == "backend");
}
