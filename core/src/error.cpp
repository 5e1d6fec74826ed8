#include <provhost/core/error.hpp>

namespace provhost::core {

std::string ChatError::message() const {
  std::string_view what = detail.empty() ? to_string(kind) : std::string_view(detail);
  if (provider.empty()) return std::string(what);
  std::string line;
  line.reserve(provider.size() + 2 + what.size());
  line.append(provider).append(": ").append(what);
  return line;
}

ChatError make_error(ErrorKind kind, std::string provider, std::string detail) {
  ChatError error;
  error.kind = kind;
  error.provider = std::move(provider);
  error.detail = std::move(detail);
  return error;
}

}  // namespace provhost::core
