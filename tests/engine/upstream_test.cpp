// The upstream override: an origin that replaces scheme, host and port, and nothing else.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <provhost/core/upstream.hpp>

using namespace provhost::core;

TEST_CASE("an origin is scheme, host and optional port") {
  CHECK(*parse_origin("http://127.0.0.1:8080") == "http://127.0.0.1:8080");
  CHECK(*parse_origin("http://127.0.0.1:8080/") == "http://127.0.0.1:8080");
  CHECK(*parse_origin("https://example.com") == "https://example.com");
  CHECK(*parse_origin("HTTP://Example.com:9") == "http://Example.com:9");
  CHECK(*parse_origin("http://[::1]:3000") == "http://[::1]:3000");
}

TEST_CASE("anything more or less than an origin is refused with a reason") {
  const char *bad[] = {"127.0.0.1:8080",      "ftp://example.com", "http://example.com/api", "http://example.com?x=1",
                       "http://user:pw@host", "http://",           "http://host:notaport",   ""};
  for (const char *text : bad) {
    INFO(text);
    Result<std::string> origin = parse_origin(text);
    REQUIRE_FALSE(origin);
    CHECK(origin.error().kind == ErrorKind::bad_request);
    const std::string &error = origin.error().detail;
    CHECK(error.find("invalid upstream") == 0);
    CHECK(error.find('\n') == std::string::npos);
  }
}

TEST_CASE("replace_origin swaps the origin and keeps path, query and fragment byte for byte") {
  const std::string origin = "http://127.0.0.1:4000";
  CHECK(replace_origin("https://koala.sh/api/gpt/", origin) == "http://127.0.0.1:4000/api/gpt/");
  CHECK(replace_origin("https://chatgptfree.ai", origin) == "http://127.0.0.1:4000");
  CHECK(replace_origin("https://chatgptfree.ai/", origin) == "http://127.0.0.1:4000/");
  CHECK(replace_origin("https://user@host.example:8443/a/../b?q=%20x&y=/z#frag", origin) ==
        "http://127.0.0.1:4000/a/../b?q=%20x&y=/z#frag");
  CHECK(replace_origin("https://host.example?only=query", origin) == "http://127.0.0.1:4000?only=query");
  SECTION("a URL that is not absolute cannot be rewritten") {
    CHECK_FALSE(replace_origin("/v1/chat/completions", origin));
    CHECK_FALSE(replace_origin("://nothing", origin));
  }
}

TEST_CASE("the environment variable is the name in capitals, other characters as _") {
  CHECK(upstream_variable("Ylokh") == "PROVHOST_UPSTREAM_YLOKH");
  CHECK(upstream_variable("ChatgptFree") == "PROVHOST_UPSTREAM_CHATGPTFREE");
  CHECK(upstream_variable("my-provider_2") == "PROVHOST_UPSTREAM_MY_PROVIDER_2");
}

TEST_CASE("overrides match names as their variables spell them; the environment is the host's to read") {
  ::setenv("PROVHOST_UPSTREAM_KOALA", "http://127.0.0.1:1111", 1);
  std::map<std::string, std::string> overrides = {{"koala", "http://127.0.0.1:2222"},
                                                  {"MY_PROVIDER", "http://127.0.0.1:3333"}};
  CHECK(find_upstream("Koala", overrides) == "http://127.0.0.1:2222");
  CHECK(find_upstream("my-provider", overrides) == "http://127.0.0.1:3333");
  CHECK(find_upstream("Koala", {}) == "");
  CHECK(find_upstream("FlowGpt", overrides) == "");
  ::unsetenv("PROVHOST_UPSTREAM_KOALA");
}

TEST_CASE("upstream pairs from the command line become origins, or the first bad one is named") {
  auto origins = parse_upstreams({{"Koala", "http://127.0.0.1:1/"}, {"Ylokh", "https://example.com"}});
  REQUIRE(origins);
  CHECK(*origins ==
        std::map<std::string, std::string>{{"Koala", "http://127.0.0.1:1"}, {"Ylokh", "https://example.com"}});
  auto bad = parse_upstreams({{"Koala", "http://127.0.0.1:1"}, {"Ylokh", "http://h/x"}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().detail ==
        "--upstream Ylokh: invalid upstream 'http://h/x': give only scheme://host[:port], without a path");
}
