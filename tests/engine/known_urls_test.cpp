// check_request with the URLs it parsed lately (KnownUrls): a known URL is not parsed again, and the
// verdict on every request is the one it gets without them.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "request_checks.hpp"

using provhost::core::EngineLimits;
using provhost::core::detail::OutgoingRequest;
using provhost::core::engine::check_request;
using provhost::core::engine::KnownUrls;

namespace {

OutgoingRequest request(std::string url, std::string method = "POST") {
  OutgoingRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.headers = {{"Content-Type", "application/json"}};
  return r;
}

}  // namespace

TEST_CASE("a URL that passed is remembered; a refused one never is, and is refused again", "[engine][request]") {
  KnownUrls known;
  const EngineLimits limits;
  CHECK_FALSE(check_request(request("https://chat.example/v1"), limits, &known));
  CHECK(known.contains("https://chat.example/v1"));
  CHECK_FALSE(check_request(request("https://chat.example/v1"), limits, &known));

  for (const char *bad : {"file:///etc/passwd", "gopher://127.0.0.1:70/1", "http://[::1", "no scheme at all", ""}) {
    INFO(bad);
    const std::optional<std::string> first = check_request(request(bad), limits, &known);
    REQUIRE(first);
    CHECK_FALSE(known.contains(bad));
    CHECK(check_request(request(bad), limits, &known) == first);
    CHECK(check_request(request(bad), limits) == first);
  }
}

TEST_CASE("a known URL still gets every other check of its request", "[engine][request]") {
  KnownUrls known;
  EngineLimits limits;
  const std::string url = "http://127.0.0.1:8080/api";
  REQUIRE_FALSE(check_request(request(url), limits, &known));
  REQUIRE(known.contains(url));

  CHECK(check_request(request(url, "GET /x"), limits, &known) == check_request(request(url, "GET /x"), limits));
  OutgoingRequest injected = request(url);
  injected.headers = {{"X-A", "1\r\nHost: elsewhere"}};
  CHECK(check_request(injected, limits, &known) ==
        "asked for a request with CR, LF or NUL in the value of the header \"X-A\"");
  limits.max_request_headers = 0;
  CHECK(check_request(request(url), limits, &known) == check_request(request(url), limits));
  CHECK(check_request(request(url), limits, &known).has_value());
}

TEST_CASE("KnownUrls keeps the newest few URLs and none longer than its bound", "[engine][request]") {
  KnownUrls known;
  std::vector<std::string> urls;
  for (size_t i = 0; i <= KnownUrls::capacity; ++i) urls.push_back("https://p" + std::to_string(i) + ".example/");
  for (const std::string &url : urls) known.add(url);
  CHECK_FALSE(known.contains(urls.front()));  // the oldest made room
  for (size_t i = 1; i < urls.size(); ++i) CHECK(known.contains(urls[i]));

  const std::string long_url = "https://chat.example/" + std::string(KnownUrls::longest_kept, 'a');
  CHECK_FALSE(check_request(request(long_url), EngineLimits{}, &known));
  CHECK_FALSE(known.contains(long_url));  // checked, and parsed again next time
  CHECK(known.contains(urls.back()));
}
