#include "engine_errors.hpp"

namespace provhost::core {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::unknown_provider:
      return "unknown provider";
    case ErrorKind::model_not_found:
      return "model not found";
    case ErrorKind::bad_request:
      return "bad request";
    case ErrorKind::rate_limited:
      return "rate limited";
    case ErrorKind::auth:
      return "missing or invalid authentication";
    case ErrorKind::blocked:
      return "blocked";
    case ErrorKind::http_status:
      return "HTTP error";
    case ErrorKind::bad_gateway:
      return "bad gateway";
    case ErrorKind::gateway_timeout:
      return "gateway timeout";
    case ErrorKind::timeout:
      return "timeout";
    case ErrorKind::stalled:
      return "stalled";
    case ErrorKind::truncated:
      return "truncated";
    case ErrorKind::connection:
      return "connection failed";
    case ErrorKind::protocol:
      return "protocol error";
    case ErrorKind::upstream:
      return "upstream error";
    case ErrorKind::plugin:
      return "plugin error";
    case ErrorKind::cancelled:
      return "cancelled";
  }
  return "error";
}

ChatError make_error(ErrorKind kind, const std::string &provider, const std::string &what) {
  ChatError error;
  error.kind = kind;
  error.provider = provider;
  error.message = provider.empty() ? what : provider + ": " + what;
  return error;
}

std::string_view without_provider(const ChatError &error) {
  std::string_view message = error.message;
  if (!error.provider.empty() && message.substr(0, error.provider.size() + 2) == error.provider + ": ") {
    message.remove_prefix(error.provider.size() + 2);
  }
  return message;
}

}  // namespace provhost::core
