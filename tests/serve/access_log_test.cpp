// The lines `serve` logs: nothing a client or an upstream sent can break a line or forge another.
#include <catch2/catch.hpp>
#include <chrono>
#include <provhost/serve/access_log.hpp>
#include <string>
#include <vector>

using namespace provhost::serve;
using namespace std::chrono_literals;

TEST_CASE("an access line names the method, path, status, provider, model, time and request id, then the note") {
  const std::vector<std::string> fields = {"Koala", "gpt-4o-mini"};
  ExchangeSummary summary{"POST", "/v1/chat/completions", 200, 1500us, fields, {}, "req_1"};
  CHECK(access_line(summary) == "provhost serve: POST /v1/chat/completions 200 Koala gpt-4o-mini 1.5ms req_1\n");
  summary.status = 499;
  summary.note = "client closed";
  CHECK(access_line(summary) ==
        "provhost serve: POST /v1/chat/completions 499 Koala gpt-4o-mini 1.5ms req_1 client closed\n");
}

TEST_CASE("missing log fields are dashes and what the client sent is made printable") {
  const std::vector<std::string> fields = {"Pro vider\n"};
  ExchangeSummary summary{"G\x01T", "/a b\r\nprovhost serve: forged", 404, 0us, fields, {}, "id\n1"};
  CHECK(access_line(summary) == "provhost serve: G?T /a?b??provhost?serve:?forged 404 Pro?vider? - 0.0ms id?1\n");
  ExchangeSummary empty{"", "", 0, 0us, {}, {}, {}};
  CHECK(access_line(empty) == "provhost serve: - - 0 - - 0.0ms -\n");
}

TEST_CASE("printable keeps printable ASCII, cuts at the limit and turns empty into a dash") {
  CHECK(printable("GET") == "GET");
  CHECK(printable("caf\xc3\xa9") == "caf??");
  CHECK(printable(std::string(300, 'a')).size() == 200);
  CHECK(printable("abcdef", 3) == "abc");
  CHECK(printable("") == "-");
}

TEST_CASE("printable keeps exactly the bytes from '!' to '~', each in its place") {
  std::string every_byte;
  for (int byte = 0; byte < 256; ++byte) every_byte.push_back(static_cast<char>(byte));
  const std::string shown = printable(every_byte, every_byte.size());
  REQUIRE(shown.size() == every_byte.size());
  for (int byte = 0; byte < 256; ++byte) {
    INFO(byte);
    CHECK(shown[static_cast<size_t>(byte)] == (byte > 0x20 && byte < 0x7f ? static_cast<char>(byte) : '?'));
  }
}

TEST_CASE("escaped text keeps spaces and UTF-8 but no control bytes") {
  CHECK(escaped("HTTP 503; retrying in 0.2 s") == "HTTP 503; retrying in 0.2 s");
  CHECK(escaped("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(escaped("a\nb\rc\x1b\x7f") == "a\\x0ab\\x0dc\\x1b\\x7f");
  CHECK(escaped("back\\slash") == "back\\x5cslash");
}

TEST_CASE("a warning line names the client, the request and the provider") {
  CHECK(warning_line("127.0.0.1:5000", "chatcmpl-1", "Koala", "HTTP 500\nretrying") ==
        "provhost serve: warning: 127.0.0.1:5000 chatcmpl-1 Koala: HTTP 500\\x0aretrying\n");
  CHECK(warning_line("[::1]:80", "", "", "stalled") == "provhost serve: warning: [::1]:80 - -: stalled\n");
}
