// What the engine accepts of a plugin's request (request_checks.hpp), whatever backend ran the plugin.
#include "request_checks.hpp"

#include <catch2/catch.hpp>

using provhost::core::EngineLimits;
using provhost::core::detail::OutgoingRequest;
using provhost::core::engine::check_request;
using provhost::core::engine::is_http_token;

namespace {

OutgoingRequest request(std::string url) {
  OutgoingRequest r;
  r.method = "POST";
  r.url = std::move(url);
  r.headers = {{"Content-Type", "application/json"}};
  r.body = "{}";
  return r;
}

std::string defect(const OutgoingRequest &r, const EngineLimits &limits = {}) {
  return check_request(r, limits).value_or("");
}

}  // namespace

TEST_CASE("http and https URLs pass, other schemes and unparsable URLs are refused with the reason") {
  CHECK(defect(request("https://chat.example/v1?x=1")).empty());
  CHECK(defect(request("HTTP://127.0.0.1:8080/")).empty());
  CHECK(defect(request("file:///etc/passwd")) == "asked for a file: URL; only http and https are allowed");
  CHECK(defect(request("gopher://127.0.0.1:70/1")) == "asked for a gopher: URL; only http and https are allowed");
  CHECK(defect(request("dict://127.0.0.1:2628/d:x")) == "asked for a dict: URL; only http and https are allowed");
  CHECK_THAT(defect(request("http://[::1")), Catch::StartsWith("asked for a URL that cannot be parsed ("));
  CHECK_THAT(defect(request("no scheme at all")), Catch::StartsWith("asked for a URL that cannot be parsed ("));
  CHECK(defect(request(std::string("http://a.example/\0file:///etc/passwd", 36))) ==
        "asked for a URL that contains a NUL byte");
  // The URL is quoted as one line, whatever it holds.
  CHECK(defect(request("http://[::1\x1b[2J")).find('\x1b') == std::string::npos);
}

TEST_CASE("methods and header names must be tokens, header values without CR, LF or NUL") {
  CHECK(is_http_token("X-Custom_Header.1!"));
  CHECK_FALSE(is_http_token(""));
  CHECK_FALSE(is_http_token("X Bad"));
  CHECK_FALSE(is_http_token("X:Bad"));
  CHECK_FALSE(is_http_token("caf\xC3\xA9"));

  OutgoingRequest r = request("https://a.example/");
  r.method = "GET /x HTTP/1.1\r\nHost: b";
  CHECK_THAT(defect(r), Catch::StartsWith("asked for a request with the method \"GET /x HTTP/1.1\\x0d\\x0aHost: b\""));
  r = request("https://a.example/");
  r.headers.emplace_back("X Not A Token", "1");
  CHECK(defect(r) == "asked for a request with the header name \"X Not A Token\", not a token");
  for (std::string value : {std::string("a\rb"), std::string("a\nb"), std::string("a\0b", 3)}) {
    r = request("https://a.example/");
    r.headers.emplace_back("X-Value", value);
    CHECK(defect(r) == "asked for a request with CR, LF or NUL in the value of the header \"X-Value\"");
  }
}

TEST_CASE("the header count and the body size are capped by EngineLimits") {
  EngineLimits limits;
  limits.max_request_headers = 3;
  limits.max_request_body = 10;
  OutgoingRequest r = request("https://a.example/");
  r.headers.assign(3, {"X-A", "1"});
  r.body = std::string(10, 'x');
  CHECK(defect(r, limits).empty());
  r.headers.emplace_back("X-A", "1");
  CHECK(defect(r, limits) == "asked for a request with 4 headers, more than the limit of 3 (--max-request-headers)");
  r.headers.resize(3);
  r.body += 'x';
  CHECK(defect(r, limits) == "asked for a request body of 11 bytes, more than the limit of 10 (--max-request-body)");
}
