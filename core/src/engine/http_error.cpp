#include <curl/curl.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <provhost/core/http_error.hpp>
#include <provhost/framing.hpp>
#include <provhost/text.hpp>

namespace provhost::core {
namespace {

bool icontains(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         }) != haystack.end();
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

// The first line of `text`, trimmed, cut to at most `limit` UTF-8 characters (never mid-character), as one
// line of valid UTF-8 (an upstream's bytes are shown, never obeyed, by a terminal).
std::string first_line(std::string_view text, size_t limit = 200) {
  text = trim(text);
  text = trim(text.substr(0, text.find_first_of("\r\n")));
  size_t characters = 0, end = 0;
  while (end < text.size()) {
    if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80 && characters++ == limit) break;
    ++end;
  }
  return one_line(text.substr(0, end));
}

// Markup, not just any body served as text/html (WordPress answers "-1" so).
bool looks_like_html(const HttpHeaders &headers, std::string_view body) {
  std::string_view start = trim(body);
  if (!start.starts_with('<')) return false;
  if (auto type = find_header(headers, "content-type"); type && icontains(*type, "html")) return true;
  for (std::string_view tag : {"<!doctype", "<html", "<head", "<body", "<!--"}) {
    if (istarts_with(start, tag)) return true;
  }
  return false;
}

// The human-readable message of a JSON error body, or "" when it carries none.
std::string json_message(std::string_view body) {
  rapidjson::Document json;
  json.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());  // no recursion on hostile nesting
  if (json.HasParseError() || !json.IsObject()) return {};
  if (auto error = json.FindMember("error"); error != json.MemberEnd() && error->value.IsObject()) {
    if (auto message = error->value.FindMember("message");
        message != error->value.MemberEnd() && message->value.IsString()) {
      return first_line({message->value.GetString(), message->value.GetStringLength()});
    }
  }
  for (const char *key : {"message", "error", "detail"}) {
    if (auto member = json.FindMember(key); member != json.MemberEnd() && member->value.IsString()) {
      return first_line({member->value.GetString(), member->value.GetStringLength()});
    }
  }
  return {};
}

}  // namespace

bool same_header_name(std::string_view a, std::string_view b) { return iequals(a, b); }

std::optional<std::string_view> find_header(const HttpHeaders &headers, std::string_view name) {
  for (const auto &[key, value] : headers) {
    if (iequals(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

bool is_cloudflare_challenge(const HttpHeaders &headers, std::string_view body) {
  if (auto mitigated = find_header(headers, "cf-mitigated"); mitigated && iequals(trim(*mitigated), "challenge")) {
    return true;
  }
  static constexpr std::array markers = {"<title>Just a moment...</title>", "cf-please-wait",
                                         "Attention Required! | Cloudflare", "cf-chl"};
  return std::any_of(markers.begin(), markers.end(), [&](const char *marker) { return icontains(body, marker); });
}

std::string error_detail(const HttpHeaders &headers, std::string_view body) {
  std::string_view text = trim(body);
  if (text.empty()) return {};
  if (text.front() == '{') {
    if (std::string message = json_message(text); !message.empty()) return message;
  }
  if (looks_like_html(headers, text)) return "HTML content";
  return first_line(text);
}

ChatError map_http_error(std::string_view provider, int status, const HttpHeaders &headers, std::string_view body) {
  ChatError error;
  error.provider = std::string(provider);
  error.http_status = status;
  switch (status) {
    case 429:
    case 402:
      error.kind = ErrorKind::rate_limited;
      break;
    case 401:
      error.kind = ErrorKind::auth;
      break;
    case 502:
      error.kind = ErrorKind::bad_gateway;
      break;
    case 504:
      error.kind = ErrorKind::gateway_timeout;
      break;
    default:
      error.kind = ErrorKind::http_status;
      break;
  }
  if (status == 403 && is_cloudflare_challenge(headers, body)) {
    error.kind = ErrorKind::blocked;
    error.detail = "blocked by Cloudflare (HTTP 403)";
    return error;
  }
  if (auto retry_after = find_header(headers, "retry-after"); retry_after && (status == 429 || status == 503)) {
    if (auto wait = parse_retry_after(*retry_after, std::chrono::system_clock::now()))
      error.retry_after_seconds = static_cast<uint64_t>(std::chrono::ceil<std::chrono::seconds>(*wait).count());
  }
  const std::string status_text = "HTTP " + std::to_string(status);
  error.detail = error.kind == ErrorKind::http_status ? status_text
                                                      : std::string(to_string(error.kind)) + " (" + status_text + ")";
  if (std::string detail = error_detail(headers, body); !detail.empty()) error.detail += ": " + detail;
  return error;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // Anything longer than a day is as good as "never"; the cap keeps the arithmetic in range.
    constexpr long long day = 24 * 60 * 60;
    long long seconds = value.size() > 6 ? day : std::min(std::stoll(std::string(value)), day);
    return std::chrono::seconds(seconds);
  }
  if (!std::isalpha(static_cast<unsigned char>(value.front()))) return std::nullopt;  // HTTP dates start with a day
  time_t date = curl_getdate(std::string(value).c_str(), nullptr);
  if (date == -1) return std::nullopt;
  auto wait = std::chrono::system_clock::from_time_t(date) - now;
  return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(wait), std::chrono::milliseconds(0));
}

}  // namespace provhost::core
