// Retry policies as plugins declare them, and the waits between attempts.
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdlib>
#include <provhost/core/retry.hpp>

using namespace provhost::core;
using std::chrono::milliseconds;

namespace {

// FreeNetfly's policy: 5 attempts, 2 s before the second, doubling, on connect errors and timeouts.
RetryPolicy freenetfly() { return RetryPolicy{5, 2000, 2, PH_RETRY_ON_CONNECT_ERROR | PH_RETRY_ON_TIMEOUT}; }

}  // namespace

TEST_CASE("waits grow by the multiplier from the initial backoff") {
  CHECK(backoff_delay(freenetfly(), 1, 1.0, 0.0) == milliseconds(2000));
  CHECK(backoff_delay(freenetfly(), 2, 1.0, 0.0) == milliseconds(4000));
  CHECK(backoff_delay(freenetfly(), 3, 1.0, 0.0) == milliseconds(8000));
  CHECK(backoff_delay(freenetfly(), 4, 1.0, 0.0) == milliseconds(16000));
}

TEST_CASE("PROVHOST_BACKOFF_SCALE multiplies every wait") {
  CHECK(backoff_delay(freenetfly(), 1, 0.01, 0.0) == milliseconds(20));
  CHECK(backoff_delay(freenetfly(), 3, 0.01, 0.0) == milliseconds(80));
  CHECK(backoff_delay(freenetfly(), 2, 0.0, 0.0) == milliseconds(0));
  CHECK(backoff_delay(freenetfly(), 1, 3.0, 0.0) == milliseconds(6000));
}

TEST_CASE("jitter moves a wait by at most 20% either way") {
  CHECK(backoff_delay(freenetfly(), 1, 1.0, 1.0) == milliseconds(2400));
  CHECK(backoff_delay(freenetfly(), 1, 1.0, -1.0) == milliseconds(1600));
  CHECK(backoff_delay(freenetfly(), 1, 1.0, 0.5) == milliseconds(2200));
  SECTION("jitter outside [-1, 1] is clamped") {
    CHECK(backoff_delay(freenetfly(), 1, 1.0, 7.0) == milliseconds(2400));
    CHECK(backoff_delay(freenetfly(), 1, 1.0, -7.0) == milliseconds(1600));
  }
}

TEST_CASE("huge multipliers are capped instead of overflowing") {
  RetryPolicy wild{100, 4'000'000'000u, 1000, PH_RETRY_ON_TIMEOUT};
  CHECK(backoff_delay(wild, 90, 1.0, 0.0) == std::chrono::hours(24));
}

TEST_CASE("statuses map to the retry flag that covers them") {
  CHECK(retry_flag_for_status(429) == PH_RETRY_ON_RATE_LIMIT);
  CHECK(retry_flag_for_status(503) == PH_RETRY_ON_RATE_LIMIT);
  CHECK(retry_flag_for_status(500) == PH_RETRY_ON_SERVER_ERROR);
  CHECK(retry_flag_for_status(502) == PH_RETRY_ON_SERVER_ERROR);
  CHECK(retry_flag_for_status(504) == PH_RETRY_ON_SERVER_ERROR);
  for (int status : {200, 401, 402, 403, 404, 501}) CHECK(retry_flag_for_status(status) == 0);
}

TEST_CASE("a plugin's policy is read safely and made sane") {
  SECTION("no policy: one attempt") {
    RetryPolicy none = read_retry_policy(nullptr);
    CHECK(none.max_attempts == 1);
    CHECK(none.retry_on == 0);
  }
  SECTION("zero attempts and a zero multiplier become one") {
    ph_retry_policy raw{sizeof(ph_retry_policy), 0, 100, 0, PH_RETRY_ON_TIMEOUT};
    RetryPolicy sane = read_retry_policy(&raw);
    CHECK(sane.max_attempts == 1);
    CHECK(sane.backoff_multiplier == 1);
    CHECK(sane.initial_backoff_ms == 100);
    CHECK(sane.retry_on == PH_RETRY_ON_TIMEOUT);
  }
  SECTION("a struct too small to hold retry_on is no policy") {
    ph_retry_policy raw{offsetof(ph_retry_policy, retry_on), 5, 100, 2, PH_RETRY_ON_TIMEOUT};
    CHECK(read_retry_policy(&raw).max_attempts == 1);
  }
}

TEST_CASE("a backoff scale is parsed from the host's text, 1 when empty") {
  CHECK(*parse_backoff_scale("", "PROVHOST_BACKOFF_SCALE") == 1.0);
  CHECK(*parse_backoff_scale("0.001", "PROVHOST_BACKOFF_SCALE") == 0.001);
  CHECK(*parse_backoff_scale("0", "PROVHOST_BACKOFF_SCALE") == 0.0);
  for (const char *bad : {"fast", "-1", "1x", "nan", "inf"}) {
    INFO(bad);
    Result<double> scale = parse_backoff_scale(bad, "PROVHOST_BACKOFF_SCALE");
    REQUIRE_FALSE(scale);
    CHECK(scale.error().detail == std::string("PROVHOST_BACKOFF_SCALE must be a number >= 0, got \"") + bad + "\"");
  }
}
