#include <catch2/catch.hpp>
#include <provhost/core/error.hpp>
#include <set>

using namespace provhost::core;

TEST_CASE("every kind has a row of its own with a distinct, stable name") {
  std::set<std::string_view> names;
  for (size_t i = 0; i < error_table.size(); ++i) {
    const ErrorInfo &row = info(static_cast<ErrorKind>(i));
    CHECK(row.kind == static_cast<ErrorKind>(i));
    CHECK_FALSE(row.name.empty());
    CHECK_FALSE(row.text.empty());
    CHECK(names.insert(row.name).second);
    CHECK(row.exit_code != exit_ok);
    CHECK(row.http_status >= 400);
    CHECK(row.http_status < 600);
    CHECK_FALSE(row.openai_type.empty());
  }
  CHECK(names.size() == static_cast<size_t>(ErrorKind::count));
}

TEST_CASE("exit codes: the user's mistakes are 2, the upstream's answers 3, the transfer 4, Ctrl-C 130") {
  CHECK(info(ErrorKind::unknown_provider).exit_code == exit_usage);
  CHECK(info(ErrorKind::model_not_found).exit_code == exit_usage);
  CHECK(info(ErrorKind::bad_request).exit_code == exit_usage);
  for (ErrorKind kind :
       {ErrorKind::rate_limited, ErrorKind::auth, ErrorKind::blocked, ErrorKind::http_status, ErrorKind::bad_gateway,
        ErrorKind::gateway_timeout, ErrorKind::protocol, ErrorKind::upstream, ErrorKind::plugin}) {
    CHECK(info(kind).exit_code == exit_upstream);
  }
  for (ErrorKind kind : {ErrorKind::timeout, ErrorKind::stalled, ErrorKind::truncated, ErrorKind::connection}) {
    CHECK(info(kind).exit_code == exit_transfer);
  }
  CHECK(info(ErrorKind::cancelled).exit_code == exit_interrupted);
}

TEST_CASE("HTTP statuses: the client's mistakes are 4xx, the upstream's failures 502/504, a plugin's 500") {
  CHECK(info(ErrorKind::model_not_found).http_status == 404);
  CHECK(info(ErrorKind::model_not_found).openai_param == "model");
  CHECK(info(ErrorKind::unknown_provider).openai_code == "provider_not_found");
  CHECK(info(ErrorKind::rate_limited).http_status == 429);
  CHECK(info(ErrorKind::rate_limited).openai_type == "rate_limit_error");
  CHECK(info(ErrorKind::auth).http_status == 502);  // the upstream's key, not the client's
  CHECK(info(ErrorKind::timeout).http_status == 504);
  CHECK(info(ErrorKind::plugin).http_status == 500);
}

TEST_CASE("an error is facts; its one line is made only when asked for") {
  ChatError error = make_error(ErrorKind::rate_limited, "Koala", "rate limited (HTTP 429)");
  CHECK(error.provider == "Koala");
  CHECK(error.detail == "rate limited (HTTP 429)");
  CHECK(error.message() == "Koala: rate limited (HTTP 429)");
  CHECK(make_error(ErrorKind::bad_request, "", "no messages to send").message() == "no messages to send");
  CHECK(make_error(ErrorKind::stalled, "Ylokh", "").message() == "Ylokh: stalled");
  CHECK(make_error(ErrorKind::cancelled, "", "").message() == "cancelled");
}

TEST_CASE("Result holds a value or the error that stands for it") {
  Result<int> good = 42;
  REQUIRE(good);
  CHECK(*good == 42);
  Result<int> bad = make_error(ErrorKind::model_not_found, "", "model not found: x");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::model_not_found);
  Result<std::string> text = std::string("hello");
  CHECK(text->size() == 5);
}
