// The one mapping from an upstream's failed HTTP answer to a ChatError, and Retry-After parsing.
#include <catch2/catch.hpp>
#include <provhost/core/http_error.hpp>

using namespace provhost::core;

namespace {

const HttpHeaders json_type = {{"Content-Type", "application/json"}};
const HttpHeaders html_type = {{"Content-Type", "text/html; charset=UTF-8"}};

}  // namespace

TEST_CASE("every status maps to its kind and a one-line message naming the provider") {
  struct Case {
    int status;
    ErrorKind kind;
    const char *message;
  };
  const Case cases[] = {
      {429, ErrorKind::rate_limited, "Ylokh: rate limited (HTTP 429): Too many requests"},
      {402, ErrorKind::rate_limited, "Ylokh: rate limited (HTTP 402): Too many requests"},
      {401, ErrorKind::auth, "Ylokh: missing or invalid authentication (HTTP 401): Too many requests"},
      {502, ErrorKind::bad_gateway, "Ylokh: bad gateway (HTTP 502): Too many requests"},
      {504, ErrorKind::gateway_timeout, "Ylokh: gateway timeout (HTTP 504): Too many requests"},
      {500, ErrorKind::http_status, "Ylokh: HTTP 500: Too many requests"},
      {403, ErrorKind::http_status, "Ylokh: HTTP 403: Too many requests"},
      {404, ErrorKind::http_status, "Ylokh: HTTP 404: Too many requests"},
      {503, ErrorKind::http_status, "Ylokh: HTTP 503: Too many requests"},
  };
  for (const Case &c : cases) {
    ChatError error = map_http_error("Ylokh", c.status, json_type, R"({"error":{"message":"Too many requests"}})");
    INFO(c.status);
    CHECK(error.kind == c.kind);
    CHECK(error.message() == c.message);
    CHECK(error.provider == "Ylokh");
    CHECK(error.http_status == c.status);
  }
}

TEST_CASE("an error body nested as deep as the 64 KiB limit allows is shown as text, not a crash") {
  const std::string deep = "{\"error\":" + std::string(64 * 1024 - 9, '[');
  CHECK(error_detail(json_type, deep).starts_with("{\"error\":[[["));
}

TEST_CASE("an empty body leaves only the status") {
  CHECK(map_http_error("Koala", 500, {}, "").message() == "Koala: HTTP 500");
  CHECK(map_http_error("Koala", 429, {}, "  \r\n").message() == "Koala: rate limited (HTTP 429)");
}

TEST_CASE("a 403 Cloudflare challenge is blocked, whichever marker gives it away") {
  const char *pages[] = {
      "<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>",
      "<html><body><div id=\"cf-please-wait\"></div></body></html>",
      "<html><head><title>Attention Required! | Cloudflare</title></head></html>",
      "<html><script>window._cf_chl_opt={}; /cdn-cgi/challenge-platform/h/b/cf-chl</script></html>",
  };
  for (const char *page : pages) {
    INFO(page);
    ChatError error = map_http_error("FlowGpt", 403, html_type, page);
    CHECK(error.kind == ErrorKind::blocked);
    CHECK(error.message() == "FlowGpt: blocked by Cloudflare (HTTP 403)");
  }
  SECTION("or the cf-mitigated header alone") {
    CHECK(map_http_error("FlowGpt", 403, {{"cf-mitigated", "challenge"}}, "").kind == ErrorKind::blocked);
  }
}

TEST_CASE("a 403 that is no challenge, and a challenge with another status, stay HTTP statuses") {
  ChatError forbidden = map_http_error("ChatgptFree", 403, html_type, "-1");
  CHECK(forbidden.kind == ErrorKind::http_status);
  CHECK(forbidden.message() == "ChatgptFree: HTTP 403: -1");
  CHECK(map_http_error("ChatgptFree", 404, html_type, "<title>Just a moment...</title>").kind ==
        ErrorKind::http_status);
}

TEST_CASE("the message comes from the JSON body's error.message, message, error or detail") {
  CHECK(error_detail(json_type, R"({"error":{"message":"quota exceeded","type":"x"}})") == "quota exceeded");
  CHECK(error_detail(json_type, R"({"message":"model overloaded"})") == "model overloaded");
  CHECK(error_detail(json_type, R"({"error":"invalid key"})") == "invalid key");
  CHECK(error_detail(json_type, R"({"detail":"Not Found"})") == "Not Found");
  SECTION("error.message wins over message") {
    CHECK(error_detail({}, R"({"message":"outer","error":{"message":"inner"}})") == "inner");
  }
  SECTION("a JSON body without a message is shown as text") {
    CHECK(error_detail(json_type, R"({"code":17})") == R"({"code":17})");
  }
  SECTION("a multi-line JSON message keeps its first line") {
    CHECK(error_detail(json_type, R"({"message":"first\nsecond"})") == "first");
  }
}

TEST_CASE("a text body gives its first line, trimmed, at most 200 characters") {
  CHECK(error_detail({}, "  upstream exploded  \nstack trace\n") == "upstream exploded");
  std::string long_line(300, 'x');
  CHECK(error_detail({}, long_line) == std::string(200, 'x'));
  SECTION("the cut never splits a UTF-8 character") {
    std::string cyrillic;
    for (int i = 0; i < 250; ++i) cyrillic += "\xD0\xAF";  // Я, two bytes each
    std::string detail = error_detail({}, cyrillic);
    CHECK(detail.size() == 400);
    CHECK(detail == cyrillic.substr(0, 400));
  }
}

TEST_CASE("an HTML body is reported as HTML content") {
  CHECK(error_detail(html_type, "<p>oops</p>") == "HTML content");
  CHECK(error_detail(html_type, "plain words") == "plain words");
  CHECK(error_detail({}, "<!DOCTYPE html><html><body>Error</body></html>") == "HTML content");
  CHECK(error_detail({}, "\n  <html><head><title>502 Bad Gateway</title></head></html>") == "HTML content");
  CHECK(map_http_error("Koala", 502, html_type, "<html>bad</html>").message() ==
        "Koala: bad gateway (HTTP 502): HTML content");
}

TEST_CASE("find_header matches names case-insensitively") {
  HttpHeaders headers = {{"Content-Type", "a"}, {"retry-after", "5"}, {"Retry-After", "6"}};
  CHECK(find_header(headers, "RETRY-AFTER") == std::string_view("5"));
  CHECK(find_header(headers, "content-type") == std::string_view("a"));
  CHECK_FALSE(find_header(headers, "cf-ray"));
}

TEST_CASE("Retry-After in seconds or as an HTTP date") {
  using namespace std::chrono;
  const auto now = system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
  CHECK(parse_retry_after("120", now) == milliseconds(120'000));
  CHECK(parse_retry_after(" 0 ", now) == milliseconds(0));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == milliseconds(30'000));
  CHECK(parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now) == milliseconds(60'000));
  CHECK(parse_retry_after("Wed Oct 21 07:28:05 2015", now) == milliseconds(5'000));
  SECTION("a date in the past means no wait") {
    CHECK(parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now) == milliseconds(0));
  }
  SECTION("a huge number is capped at a day") { CHECK(parse_retry_after("99999999999999999999", now) == hours(24)); }
  SECTION("anything else is no Retry-After") {
    CHECK_FALSE(parse_retry_after("", now));
    CHECK_FALSE(parse_retry_after("-5", now));
    CHECK_FALSE(parse_retry_after("1.5", now));
    CHECK_FALSE(parse_retry_after("soon", now));
  }
}
