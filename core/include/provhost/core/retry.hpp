// retry.hpp: when a failed attempt of a request may be sent again, and how long to wait first.
#pragma once

#include <provhost/provhost.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <provhost/core/error.hpp>
#include <string>
#include <string_view>

namespace provhost::core {

// A plugin's ph_retry_policy, read safely (struct_size honoured) and made sane: at least one
// attempt, a multiplier of at least 1. A request without a policy is sent once.
struct RetryPolicy {
  uint32_t max_attempts = 1;
  uint32_t initial_backoff_ms = 0;
  uint32_t backoff_multiplier = 1;
  uint32_t retry_on = 0;  // PH_RETRY_ON_* flags
};
RetryPolicy read_retry_policy(const ph_retry_policy *policy);

// The PH_RETRY_ON_* flag that covers an HTTP status: rate limit for 429 and 503, server error for
// 500, 502 and 504; 0 for any other status, which is never retried.
uint32_t retry_flag_for_status(int status);

// The wait before attempt `failed_attempts + 1`: initial_backoff_ms times multiplier^(failed - 1),
// times `scale` (PROVHOST_BACKOFF_SCALE), times 1 + 0.2 * `jitter` where jitter is in [-1, 1].
std::chrono::milliseconds backoff_delay(const RetryPolicy &policy, uint32_t failed_attempts, double scale,
                                        double jitter);

// The factor for every retry wait (tests make waits short with 0.001), read from `text`, a value
// of the setting `source` (e.g. "PROVHOST_BACKOFF_SCALE", named in the error): 1 when empty;
// a bad_request error saying so when it is not a number >= 0. Core reads no
// environment: the host passes what it found.
Result<double> parse_backoff_scale(std::string_view text, std::string_view source);

}  // namespace provhost::core
