#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <provhost/core/retry.hpp>

namespace provhost::core {

RetryPolicy read_retry_policy(const ph_retry_policy *policy) {
  RetryPolicy sane;
  if (!policy || !PH_HAS_FIELD(policy, ph_retry_policy, retry_on)) return sane;
  sane.max_attempts = std::max<uint32_t>(policy->max_attempts, 1);
  sane.initial_backoff_ms = policy->initial_backoff_ms;
  sane.backoff_multiplier = std::max<uint32_t>(policy->backoff_multiplier, 1);
  sane.retry_on = policy->retry_on;
  return sane;
}

uint32_t retry_flag_for_status(int status) {
  switch (status) {
    case 429:
    case 503:
      return PH_RETRY_ON_RATE_LIMIT;
    case 500:
    case 502:
    case 504:
      return PH_RETRY_ON_SERVER_ERROR;
    default:
      return 0;
  }
}

std::chrono::milliseconds backoff_delay(const RetryPolicy &policy, uint32_t failed_attempts, double scale,
                                        double jitter) {
  // A day is longer than any total timeout; the cap keeps huge multipliers from overflowing.
  constexpr double day_ms = 24.0 * 60 * 60 * 1000;
  double exponent = failed_attempts > 1 ? failed_attempts - 1 : 0;
  double wait = policy.initial_backoff_ms * std::pow(static_cast<double>(policy.backoff_multiplier), exponent);
  wait = std::min(wait, day_ms) * std::max(scale, 0.0) * (1.0 + 0.2 * std::clamp(jitter, -1.0, 1.0));
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(std::min(wait, day_ms))));
}

Result<double> parse_backoff_scale(std::string_view text, std::string_view source) {
  if (text.empty()) return 1.0;
  std::string copy(text);  // strtod needs the terminating NUL
  char *end = nullptr;
  double scale = std::strtod(copy.c_str(), &end);
  if (*end || !std::isfinite(scale) || scale < 0) {
    return make_error(ErrorKind::bad_request, "", std::string(source) + " must be a number >= 0, got \"" + copy + "\"");
  }
  return scale;
}

}  // namespace provhost::core
