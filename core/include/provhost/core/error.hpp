// error.hpp: why something failed, and what each failure means at every edge of provhost.
//
// One table maps each ErrorKind to its name, its words for people, the exit code of `provhost chat`
// and the HTTP status and OpenAI error type/code of `provhost serve`. Adding a kind means adding
// one enumerator and one row; the compiler refuses a table that misses a kind or lists one out of
// order. Errors carry facts ({kind, provider, detail}) and are turned into text only at the edges.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace provhost::core {

// The process's exit status; `provhost --help` documents them.
enum ExitCode : int {
  exit_ok = 0,
  exit_internal_error = 1,
  exit_usage = 2,              // bad option, unknown provider or model, unreadable or malformed input, no prompt
  exit_upstream = 3,           // HTTP status, rate limited, auth, Cloudflare, unreadable answer, plugin error
  exit_transfer = 4,           // connection, timeout, stalled, truncated
  exit_validation_failed = 5,  // provhost validate: a check failed
  exit_interrupted = 130,
};

enum class ErrorKind {
  unknown_provider,  // no such provider loaded
  model_not_found,   // no (working) provider lists the model
  bad_request,       // the request cannot be sent (no messages, a bad option, ...)
  rate_limited,      // 429, 402
  auth,              // 401
  blocked,           // 403 Cloudflare challenge
  http_status,       // any other non-2xx status
  bad_gateway,       // 502
  gateway_timeout,   // 504
  timeout,           // connect, first-byte or total timeout
  stalled,           // no bytes for the idle timeout mid-stream
  truncated,         // the stream ended before its terminator
  connection,        // could not connect, connection reset, proxy failure
  protocol,          // the upstream's answer could not be read
  upstream,          // the upstream reported an error inside its answer
  plugin,            // the plugin misbehaved (threw, broke the ABI contract)
  cancelled,         // the caller cancelled
  count,             // not a kind: the number of kinds, so the table below can be checked
};

// Everything the edges need to know about one kind.
struct ErrorInfo {
  ErrorKind kind;
  std::string_view name;  // stable identifier, for JSON, logs and metrics: "rate_limited"
  std::string_view text;  // for people, when nothing more precise is known: "rate limited"
  ExitCode exit_code;     // provhost chat
  int http_status;        // provhost serve
  std::string_view openai_type;
  std::string_view openai_param;  // "" is sent as null
  std::string_view openai_code;   // "" is sent as null
};

// The upstream's own authentication failing (auth) is a gateway error for serve's client, whose key
// was fine; a plugin that misbehaves is the server's fault (500).
inline constexpr std::array<ErrorInfo, static_cast<std::size_t>(ErrorKind::count)> error_table{{
    // clang-format off
  //  kind                          name                text                                 exit code       HTTP  OpenAI type              param       code
    {ErrorKind::unknown_provider, "unknown_provider", "unknown provider",                   exit_usage,     404, "invalid_request_error", "provider", "provider_not_found"},
    {ErrorKind::model_not_found,  "model_not_found",  "model not found",                    exit_usage,     404, "invalid_request_error", "model",    "model_not_found"},
    {ErrorKind::bad_request,      "bad_request",      "bad request",                        exit_usage,     400, "invalid_request_error", "",         ""},
    {ErrorKind::rate_limited,     "rate_limited",     "rate limited",                       exit_upstream,  429, "rate_limit_error",      "",         "rate_limit_exceeded"},
    {ErrorKind::auth,             "auth",             "missing or invalid authentication",  exit_upstream,  502, "upstream_error",        "",         "upstream_auth"},
    {ErrorKind::blocked,          "blocked",          "blocked",                            exit_upstream,  502, "upstream_error",        "",         "blocked"},
    {ErrorKind::http_status,      "http_status",      "HTTP error",                         exit_upstream,  502, "upstream_error",        "",         "http_status"},
    {ErrorKind::bad_gateway,      "bad_gateway",      "bad gateway",                        exit_upstream,  502, "upstream_error",        "",         "bad_gateway"},
    {ErrorKind::gateway_timeout,  "gateway_timeout",  "gateway timeout",                    exit_upstream,  504, "upstream_error",        "",         "gateway_timeout"},
    {ErrorKind::timeout,          "timeout",          "timeout",                            exit_transfer,  504, "upstream_error",        "",         "timeout"},
    {ErrorKind::stalled,          "stalled",          "stalled",                            exit_transfer,  504, "upstream_error",        "",         "stalled"},
    {ErrorKind::truncated,        "truncated",        "truncated",                          exit_transfer,  502, "upstream_error",        "",         "truncated"},
    {ErrorKind::connection,       "connection",       "connection failed",                  exit_transfer,  502, "upstream_error",        "",         "connection"},
    {ErrorKind::protocol,         "protocol",         "protocol error",                     exit_upstream,  502, "upstream_error",        "",         "protocol"},
    {ErrorKind::upstream,         "upstream",         "upstream error",                     exit_upstream,  502, "upstream_error",        "",         "upstream"},
    {ErrorKind::plugin,           "plugin",           "plugin error",                       exit_upstream,  500, "server_error",          "",         "plugin_error"},
    {ErrorKind::cancelled,        "cancelled",        "cancelled",                          exit_interrupted, 503, "server_error",        "",         "cancelled"},
    // clang-format on
}};

namespace detail {
constexpr bool table_in_kind_order() {
  for (std::size_t i = 0; i < error_table.size(); ++i) {
    if (error_table[i].kind != static_cast<ErrorKind>(i)) return false;
  }
  return true;
}
}  // namespace detail
static_assert(detail::table_in_kind_order(), "error_table: one row per ErrorKind, in the enum's order");

constexpr const ErrorInfo &info(ErrorKind kind) { return error_table[static_cast<std::size_t>(kind)]; }

// The words for people ("rate limited"); kept for the callers that only print a kind.
constexpr std::string_view to_string(ErrorKind kind) { return info(kind).text; }

// Why a chat (or anything in core) failed: facts, not formatted text.
struct ChatError {
  ErrorKind kind = ErrorKind::protocol;
  std::string provider;             // "" when no provider was reached
  std::string detail;               // one line of what went wrong, without the provider's name
  int http_status = 0;              // the upstream's status, when there was one
  std::vector<ChatError> attempts;  // after fallback: why each provider tried failed
  // The upstream's Retry-After on a 429 or 503, in whole seconds from when it came (serve passes it on).
  std::optional<uint64_t> retry_after_seconds;

  // The one line for people: "Provider: detail" (or the detail alone when no provider is known,
  // or the kind's text when nothing more is known).
  std::string message() const;
};

ChatError make_error(ErrorKind kind, std::string provider, std::string detail);

// The one result type inside core: a value, or why there is none.
template <class T>
class Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(ChatError error) : state_(std::in_place_index<1>, std::move(error)) {}

  explicit operator bool() const { return state_.index() == 0; }
  T &value() & { return std::get<0>(state_); }
  const T &value() const & { return std::get<0>(state_); }
  T &&value() && { return std::get<0>(std::move(state_)); }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }
  const ChatError &error() const { return std::get<1>(state_); }

 private:
  std::variant<T, ChatError> state_;
};

}  // namespace provhost::core
