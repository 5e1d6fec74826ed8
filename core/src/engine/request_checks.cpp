#include "request_checks.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <provhost/text.hpp>

namespace provhost::core::engine {
namespace {

// A plugin's string inside a message: quoted, one line, and short.
std::string shown_quoted(std::string_view text) {
  constexpr size_t shown = 80;
  std::string out = in_quotes(one_line(text.substr(0, shown)));
  if (text.size() > shown) out += "...";
  return out;
}

// The URL's scheme, lower-cased by libcurl; or why libcurl cannot parse the URL.
std::optional<std::string> url_scheme(const std::string &url, std::string &why) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), &curl_url_cleanup);
  if (!parsed) {
    why = "out of memory";
    return std::nullopt;
  }
  if (CURLUcode code = curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0); code != CURLUE_OK) {
    why = curl_url_strerror(code);
    return std::nullopt;
  }
  char *scheme = nullptr;
  if (CURLUcode code = curl_url_get(parsed.get(), CURLUPART_SCHEME, &scheme, 0); code != CURLUE_OK) {
    why = curl_url_strerror(code);
    return std::nullopt;
  }
  std::string result(scheme);
  curl_free(scheme);
  return result;
}

}  // namespace

bool is_http_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool KnownUrls::contains(std::string_view url) const {
  // Slots not filled yet hold "", which no URL that parses is.
  return !url.empty() && std::find(urls_.begin(), urls_.end(), url) != urls_.end();
}

void KnownUrls::add(const std::string &url) {
  if (url.size() > longest_kept) return;
  urls_[next_].assign(url);
  next_ = (next_ + 1) % capacity;
}

std::optional<std::string> check_request(const detail::OutgoingRequest &request, const EngineLimits &limits,
                                         KnownUrls *known) {
  if (!is_http_token(request.method)) return "asked for a request with the method " + shown_quoted(request.method);
  // libcurl reads the URL up to its first NUL: what it would send is not what was checked.
  if (request.url.find('\0') != std::string::npos) return "asked for a URL that contains a NUL byte";
  if (!known || !known->contains(request.url)) {
    std::string why;
    std::optional<std::string> scheme = url_scheme(request.url, why);
    if (!scheme) return "asked for a URL that cannot be parsed (" + why + "): " + shown_quoted(request.url);
    if (*scheme != "http" && *scheme != "https")
      return "asked for a " + one_line(*scheme) + ": URL; only http and https are allowed";
    if (known) known->add(request.url);
  }
  if (request.headers.size() > limits.max_request_headers) {
    return "asked for a request with " + std::to_string(request.headers.size()) + " headers, more than the limit of " +
           std::to_string(limits.max_request_headers) + " (--max-request-headers)";
  }
  if (request.body.size() > limits.max_request_body) {
    return "asked for a request body of " + std::to_string(request.body.size()) + " bytes, more than the limit of " +
           std::to_string(limits.max_request_body) + " (--max-request-body)";
  }
  for (const auto &[name, value] : request.headers) {
    if (!is_http_token(name)) return "asked for a request with the header name " + shown_quoted(name) + ", not a token";
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      return "asked for a request with CR, LF or NUL in the value of the header " + shown_quoted(name);
  }
  return std::nullopt;
}

}  // namespace provhost::core::engine
