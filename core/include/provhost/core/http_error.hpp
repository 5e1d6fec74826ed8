// http_error.hpp: how an upstream's failed HTTP answer becomes one ChatError, the same way for every
// provider (docs/protocols.md, "Errors every plugin maps the same way"), and how its Retry-After is read.
#pragma once

#include <chrono>
#include <optional>
#include <provhost/core/chat.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provhost::core {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Header names compare case-insensitively.
bool same_header_name(std::string_view a, std::string_view b);

// The value of the first header called `name` (case-insensitive), or nullopt.
std::optional<std::string_view> find_header(const HttpHeaders &headers, std::string_view name);

// True when `body` (or the cf-mitigated header) is a Cloudflare challenge page.
bool is_cloudflare_challenge(const HttpHeaders &headers, std::string_view body);

// What the body says went wrong, as one line: a JSON body's error.message / message / error /
// detail string, "HTML content" for a web page, or the first line of the text (at most 200
// characters). "" when the body says nothing.
std::string error_detail(const HttpHeaders &headers, std::string_view body);

// A non-2xx answer as a ChatError whose message is one line starting with the provider's name,
// e.g. "Ylokh: rate limited (HTTP 429): Too many requests".
ChatError map_http_error(std::string_view provider, int status, const HttpHeaders &headers, std::string_view body);

// A Retry-After value, either delay-seconds or an HTTP date (taken relative to `now`), as a wait.
// nullopt when it is neither; a date in the past is a wait of zero.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

}  // namespace provhost::core
