#include "decisions.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <provhost/core/http_error.hpp>

namespace provhost::core::engine {

std::string seconds_text(milliseconds duration) {
  long long ms = std::max<long long>(duration.count(), 0);
  std::string text = std::to_string(ms / 1000);
  if (long long fraction = ms % 1000) {
    char digits[8];
    std::snprintf(digits, sizeof digits, ".%03lld", fraction);
    text += digits;
    text.erase(text.find_last_not_of('0') + 1);
  }
  return text + " s";
}

std::optional<milliseconds> decide_retry(const RetryFacts &facts, TimePoint now) {
  const RetryPolicy &policy = facts.policy;
  if (!(policy.retry_on & facts.failure) || facts.attempt >= policy.max_attempts || facts.body_fed || facts.answering ||
      facts.cancelled) {
    return std::nullopt;
  }
  milliseconds wait = backoff_delay(policy, facts.attempt, facts.backoff_scale, facts.jitter);
  if (facts.failure == PH_RETRY_ON_RATE_LIMIT && facts.retry_after) {
    if (auto asked = parse_retry_after(*facts.retry_after, facts.wall_now)) {
      wait = milliseconds(std::llround(static_cast<double>(asked->count()) * std::max(facts.backoff_scale, 0.0)));
    }
  }
  if (facts.deadline != never && now + wait >= facts.deadline) return std::nullopt;
  return wait;
}

bool may_fall_back(const FallbackFacts &facts, TimePoint now) {
  return !facts.answering && !facts.cancelled && now < facts.deadline && facts.next_candidate < facts.candidate_count;
}

ChatError final_error(const std::vector<ChatError> &failures) {
  ChatError error = failures.back();
  if (failures.size() > 1) {
    error.provider.clear();  // every provider tried: the detail names each
    error.detail = "all providers failed: ";
    for (size_t i = 0; i < failures.size(); ++i) error.detail += (i ? "; " : "") + failures[i].message();
  }
  error.attempts = failures;
  return error;
}

std::string_view to_string(DeadlineKind kind) {
  switch (kind) {
    case DeadlineKind::connect:
      return "connect";
    case DeadlineKind::first_byte:
      return "first-byte";
    case DeadlineKind::idle:
      return "idle";
    case DeadlineKind::attempt:
      return "attempt";
    case DeadlineKind::total:
      return "total";
    case DeadlineKind::retry_wait:
      return "retry-wait";
    case DeadlineKind::drain:
      return "drain";
    case DeadlineKind::backend:
      return "backend";
  }
  return "deadline";
}

TimePoint transfer_deadline(DeadlineKind kind, const TransferClock &clock, const Timeouts &limits) {
  switch (kind) {
    case DeadlineKind::connect:
      if (!limits.connect_ms || clock.request_sent != never) return never;
      return clock.started + milliseconds(limits.connect_ms);
    case DeadlineKind::first_byte:
      if (!limits.first_byte_ms || clock.request_sent == never || clock.first_byte != never) return never;
      return clock.request_sent + milliseconds(limits.first_byte_ms);
    case DeadlineKind::idle:
      if (!limits.idle_ms || clock.first_byte == never) return never;
      return clock.last_data + milliseconds(limits.idle_ms);
    case DeadlineKind::attempt:
      if (!clock.attempt_timeout_ms) return never;
      return clock.started + milliseconds(clock.attempt_timeout_ms);
    default:
      return never;
  }
}

DeadlineCheck check_transfer_deadline(DeadlineKind kind, const TransferClock &clock, const Timeouts &limits,
                                      TimePoint now) {
  TimePoint due = transfer_deadline(kind, clock, limits);
  if (due == never) return {};
  // While we hold the transfer back ourselves, silence is not the upstream's fault.
  if (kind == DeadlineKind::idle && clock.paused) return {std::nullopt, now + milliseconds(limits.idle_ms)};
  if (now < due) return {std::nullopt, due};
  switch (kind) {
    case DeadlineKind::connect:
      return {Expiry{ErrorKind::timeout, "timed out connecting after " + seconds_text(milliseconds(limits.connect_ms)),
                     PH_RETRY_ON_TIMEOUT}};
    case DeadlineKind::first_byte:
      return {Expiry{ErrorKind::timeout, "no response within " + seconds_text(milliseconds(limits.first_byte_ms)),
                     PH_RETRY_ON_TIMEOUT}};
    case DeadlineKind::idle:
      return {Expiry{ErrorKind::stalled, "stalled: no data for " + seconds_text(milliseconds(limits.idle_ms)), 0}};
    default:
      return {Expiry{ErrorKind::timeout, "timed out after " + seconds_text(milliseconds(clock.attempt_timeout_ms)),
                     PH_RETRY_ON_TIMEOUT}};
  }
}

TransportDecision classify_transport_failure(const TransportFacts &facts) {
  if (facts.body_fed || (facts.response_started && facts.action == PH_RESPONSE_READ)) {
    return {TransportVerdict::truncated, ErrorKind::truncated, "stream truncated: " + facts.reason, 0};
  }
  if (facts.response_started && facts.action == PH_RESPONSE_HTTP_ERROR) {
    return {TransportVerdict::http_error, ErrorKind::http_status, {}, 0};
  }
  if (facts.timed_out) {  // the only timeout libcurl enforces for us
    std::string what = "timed out connecting";
    if (facts.connect_ms) what += " after " + seconds_text(milliseconds(facts.connect_ms));
    return {TransportVerdict::retryable, ErrorKind::timeout, what, PH_RETRY_ON_TIMEOUT};
  }
  return {TransportVerdict::retryable, ErrorKind::connection, "connection failed: " + facts.reason,
          PH_RETRY_ON_CONNECT_ERROR};
}

}  // namespace provhost::core::engine
