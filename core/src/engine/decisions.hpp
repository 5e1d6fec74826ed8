// decisions.hpp: the engine's judgements as pure functions. Each takes the state that matters, the
// facts, and the time, and returns what to do; none touches libcurl, a plugin or a clock, so each
// is unit-tested with made-up time points (tests/engine/decisions_test.cpp).
#pragma once

#include <provhost/provhost.h>

#include <chrono>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/retry.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::core::engine {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using std::chrono::milliseconds;
constexpr TimePoint never = TimePoint::max();

// "5 s", "0.25 s": how long, for messages.
std::string seconds_text(milliseconds duration);

// ---- retry ------------------------------------------------------------------------------------

struct RetryFacts {
  RetryPolicy policy;
  uint32_t attempt = 1;        // the attempt that failed, from 1
  uint32_t failure = 0;        // the PH_RETRY_ON_* flag that covers the failure; 0 = never retried
  bool body_fed = false;       // response bytes reached the session
  bool answering = false;      // text reached the sink
  bool cancelled = false;      // the caller asked to cancel
  TimePoint deadline = never;  // the chat's
  double backoff_scale = 1.0;
  double jitter = 0;                                 // in [-1, 1]
  std::optional<std::string_view> retry_after;       // the upstream's Retry-After, for a rate limit
  std::chrono::system_clock::time_point wall_now{};  // what an HTTP-date Retry-After is relative to
};

// How long to wait before sending the request again, or nullopt when it must not be retried:
// the policy does not cover this failure, no attempts are left, the answer has begun, the chat was
// cancelled, or the wait would end past the chat's deadline.
std::optional<milliseconds> decide_retry(const RetryFacts &facts, TimePoint now);

// ---- fallback ---------------------------------------------------------------------------------

struct FallbackFacts {
  bool answering = false;
  bool cancelled = false;
  TimePoint deadline = never;
  size_t next_candidate = 0;  // index of the provider that would be tried next
  size_t candidate_count = 0;
};

// Whether a provider's failure moves the chat to the next provider rather than ending it.
bool may_fall_back(const FallbackFacts &facts, TimePoint now);

// The error a chat ends with, given why each provider failed (at least one): the only failure, or
// one that names them all.
ChatError final_error(const std::vector<ChatError> &failures);

// ---- deadlines --------------------------------------------------------------------------------

// `backend`: the session backend's own (a worker's call timeout), owned by one of its ids.
enum class DeadlineKind : uint8_t { connect, first_byte, idle, attempt, total, retry_wait, drain, backend };
std::string_view to_string(DeadlineKind kind);

// What the clock of one transfer has seen.
struct TransferClock {
  TimePoint started{};
  TimePoint request_sent = never;  // connected, request on its way
  TimePoint first_byte = never;
  TimePoint last_data{};
  uint32_t attempt_timeout_ms = 0;  // the plugin's limit for one request; 0 = none
  bool paused = false;              // held back by us (backpressure), not by the upstream
};

struct Expiry {
  ErrorKind kind = ErrorKind::timeout;
  std::string what;       // the message, without the provider
  uint32_t retry_on = 0;  // the PH_RETRY_ON_* flag that covers it
};

// A deadline that came due: it expired, it moved (look again at `next`), or it no longer applies
// (`next` is never and nothing expired).
struct DeadlineCheck {
  std::optional<Expiry> expired;
  TimePoint next = never;
};

// Checks one of the transfer deadlines (connect, first_byte, idle, attempt).
DeadlineCheck check_transfer_deadline(DeadlineKind kind, const TransferClock &clock, const Timeouts &limits,
                                      TimePoint now);

// When a transfer deadline should first be looked at, given the clock as it is now; never when it
// does not apply yet.
TimePoint transfer_deadline(DeadlineKind kind, const TransferClock &clock, const Timeouts &limits);

// ---- a failed transfer ------------------------------------------------------------------------

struct TransportFacts {
  bool body_fed = false;
  bool response_started = false;
  ph_response_action action = PH_RESPONSE_READ;
  bool timed_out = false;  // libcurl's own (connect) timeout
  std::string reason;      // libcurl's message
  uint32_t connect_ms = 0;
};

enum class TransportVerdict {
  truncated,   // the answer had begun: the stream broke
  http_error,  // an error response was being read: map it as it is
  retryable,   // the request never got an answer: an attempt failure, retried per policy
};

struct TransportDecision {
  TransportVerdict verdict = TransportVerdict::retryable;
  ErrorKind kind = ErrorKind::connection;
  std::string what;
  uint32_t retry_on = 0;
};

TransportDecision classify_transport_failure(const TransportFacts &facts);

}  // namespace provhost::core::engine
