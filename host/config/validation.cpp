#include "validation.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace provhost::host::config {
namespace {

bool is_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  if (!std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) return false;
  return std::stoi(std::string(text)) <= 65535;
}

}  // namespace

std::optional<std::string> check_proxy(std::string_view proxy) {
  size_t separator = proxy.find("://");
  if (separator == std::string_view::npos) return std::nullopt;  // host:port, an HTTP proxy to libcurl
  std::string scheme(proxy.substr(0, separator));
  for (const char *known : {"http", "https", "socks4", "socks4a", "socks5", "socks5h"}) {
    if (scheme == known) return std::nullopt;
  }
  return "unsupported proxy scheme \"" + scheme + "\" (use http, https, socks4, socks4a, socks5 or socks5h)";
}

std::optional<std::string> check_listen(std::string_view listen) {
  std::string_view port;
  if (!listen.empty() && listen.front() == '[') {
    size_t close = listen.find("]:");
    if (close == std::string_view::npos) return "expected [IPv6]:PORT, got \"" + std::string(listen) + "\"";
    port = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) return "expected HOST:PORT, got \"" + std::string(listen) + "\"";
    port = listen.substr(colon + 1);
  }
  if (!is_port(port)) return "the port in \"" + std::string(listen) + "\" must be a number from 0 to 65535";
  return std::nullopt;
}

namespace {

bool is_host_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool is_bracketed_ipv6(std::string_view host) {
  if (host.size() < 3 || host.front() != '[' || host.back() != ']') return false;
  return std::all_of(host.begin() + 1, host.end() - 1, [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
  });
}

}  // namespace

std::optional<std::string> check_allowed_host(std::string_view host) {
  if (host.empty() || !(is_bracketed_ipv6(host) || std::all_of(host.begin(), host.end(), is_host_character)))
    return "expected a host name without a port (letters, digits, '.', '-', '_') or [IPv6], got \"" +
           std::string(host) + "\"";
  return std::nullopt;
}

std::optional<std::string> check_cors_origin(std::string_view origin) {
  if (origin == "*") return std::nullopt;
  std::string_view rest;
  if (origin.rfind("http://", 0) == 0)
    rest = origin.substr(7);
  else if (origin.rfind("https://", 0) == 0)
    rest = origin.substr(8);
  std::string_view host = rest, port;
  if (auto colon = rest.rfind(':');
      colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (rest.empty() || check_allowed_host(host) || (rest.size() != host.size() && !is_port(port)))
    return "expected \"*\" or an origin such as https://chat.example.com or http://localhost:3000 (no path), got \"" +
           std::string(origin) + "\"";
  return std::nullopt;
}

std::optional<std::string> check_base_url(std::string_view url) {
  std::string_view rest;
  if (url.rfind("http://", 0) == 0)
    rest = url.substr(7);
  else if (url.rfind("https://", 0) == 0)
    rest = url.substr(8);
  else
    return "expected an http:// or https:// URL, got \"" + std::string(url) + "\"";
  if (rest.empty() || rest.front() == '/' || rest.front() == ':')
    return "the URL \"" + std::string(url) + "\" has no host";
  return std::nullopt;
}

std::optional<ph_log_level> log_level_from_name(std::string_view name) {
  if (name == "debug") return PH_LOG_DEBUG;
  if (name == "info") return PH_LOG_INFO;
  if (name == "warning") return PH_LOG_WARNING;
  if (name == "error") return PH_LOG_ERROR;
  return std::nullopt;
}

std::optional<double> parse_seconds(std::string_view text) {
  std::string copy(text);
  char *end = nullptr;
  double seconds = std::strtod(copy.c_str(), &end);
  if (copy.empty() || *end != '\0' || !std::isfinite(seconds) || seconds < 0 || seconds > 1e9) return std::nullopt;
  return seconds;
}

bool is_provider_name(std::string_view name) {
  return !name.empty() &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

bool is_variable_name(std::string_view name) {
  return !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front())) &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

std::optional<std::uint64_t> parse_bytes(std::string_view text) {
  constexpr std::pair<char, int> units[] = {{'K', 10}, {'M', 20}, {'G', 30}};
  int shift = 0;
  for (const auto &[unit, bits] : units) {
    if (!text.empty() && (text.back() == unit || text.back() == unit + ('a' - 'A'))) {
      shift = bits;
      text.remove_suffix(1);
    }
  }
  if (text.empty() || text.size() > 15) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value << shift;
}

std::optional<std::string> check_isolation(std::string_view mode) {
  if (mode == "process" || mode == "none") return std::nullopt;
  return "isolation must be process or none, got \"" + std::string(mode) + "\"";
}

}  // namespace provhost::host::config
