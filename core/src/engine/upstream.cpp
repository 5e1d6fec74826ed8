#include <curl/curl.h>

#include <cctype>
#include <memory>
#include <provhost/core/environment_name.hpp>
#include <provhost/core/upstream.hpp>
#include <provhost/text.hpp>

namespace provhost::core {
namespace {

struct UrlDeleter {
  void operator()(CURLU *url) const { curl_url_cleanup(url); }
};

// One part of a parsed URL; "" when the URL has none.
std::string url_part(CURLU *url, CURLUPart part) {
  char *value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || !value) return {};
  std::string copy(value);
  curl_free(value);
  return copy;
}

ChatError invalid(std::string detail) { return make_error(ErrorKind::bad_request, "", std::move(detail)); }

std::string invalid_upstream(std::string_view text, std::string_view why) {
  std::string message = "invalid upstream '";
  message.append(text).append("': ").append(why);
  return message;
}

}  // namespace

Result<std::string> parse_origin(std::string_view text) {
  if (text.find("://") == std::string_view::npos) {
    return invalid(invalid_upstream(text, "expected scheme://host[:port], e.g. http://127.0.0.1:8080"));
  }
  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (!url) {
    return invalid("out of memory");
  }
  if (CURLUcode code = curl_url_set(url.get(), CURLUPART_URL, std::string(text).c_str(), CURLU_DISALLOW_USER);
      code != CURLUE_OK) {
    return invalid(invalid_upstream(text, curl_url_strerror(code)));
  }
  std::string scheme = url_part(url.get(), CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https") {
    return invalid(invalid_upstream(text, "the scheme must be http or https"));
  }
  std::string path = url_part(url.get(), CURLUPART_PATH);
  if ((!path.empty() && path != "/") || !url_part(url.get(), CURLUPART_QUERY).empty() ||
      !url_part(url.get(), CURLUPART_FRAGMENT).empty()) {
    return invalid(invalid_upstream(text, "give only scheme://host[:port], without a path"));
  }
  std::string origin = scheme + "://" + url_part(url.get(), CURLUPART_HOST);
  if (std::string port = url_part(url.get(), CURLUPART_PORT); !port.empty()) origin += ":" + port;
  return origin;
}

std::optional<std::string> replace_origin(std::string_view url, std::string_view origin) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return std::nullopt;
  size_t authority_end = url.find_first_of("/?#", scheme_end + 3);
  std::string replaced(origin);
  if (authority_end != std::string_view::npos) replaced += url.substr(authority_end);
  return replaced;
}

Result<std::map<std::string, std::string>> parse_upstreams(const std::map<std::string, std::string> &urls) {
  std::map<std::string, std::string> origins;
  for (const auto &[name, url] : urls) {
    Result<std::string> origin = parse_origin(url);
    if (!origin) return invalid("--upstream " + name + ": " + origin.error().detail);
    origins[name] = std::move(*origin);
  }
  return origins;
}

Result<std::pair<std::string, std::string>> parse_upstream_option(std::string_view spec) {
  size_t equals = spec.find('=');
  if (equals == std::string_view::npos || equals == 0 || equals + 1 == spec.size()) {
    return invalid("--upstream: expected NAME=URL, got \"" + std::string(spec) + "\"");
  }
  std::string name(spec.substr(0, equals));
  Result<std::string> origin = parse_origin(spec.substr(equals + 1));
  if (!origin) return invalid("--upstream " + name + ": " + origin.error().detail);
  return std::pair{std::move(name), std::move(*origin)};
}

std::string upstream_variable(std::string_view provider) { return environment_name({"UPSTREAM", provider}); }

std::string find_upstream(std::string_view provider, const std::map<std::string, std::string> &overrides) {
  // Compared as their variable names, so that a name taken from PROVHOST_UPSTREAM_MY_PROVIDER
  // finds "My-Provider".
  const std::string wanted = upstream_variable(provider);
  for (const auto &[name, origin] : overrides) {
    if (upstream_variable(name) == wanted) return origin;
  }
  return "";
}

}  // namespace provhost::core
