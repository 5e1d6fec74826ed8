// The SDK's text chores at the trust boundary: UTF-8 repair and the one escaping of foreign text.
#include <catch2/catch.hpp>
#include <provhost/text.hpp>
#include <string>

using provhost::is_utf8;
using provhost::one_line;
using provhost::repair_utf8;

namespace {
const std::string fffd = "\xEF\xBF\xBD";
}

TEST_CASE("repair_utf8 keeps UTF-8 as it is and replaces each maximal ill-formed subpart by one U+FFFD") {
  CHECK(repair_utf8("") == "");
  CHECK(repair_utf8("plain ascii") == "plain ascii");
  CHECK(repair_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80") == "caf\xC3\xA9 \xF0\x9F\x98\x80");
  CHECK(repair_utf8("a\xFF"
                    "b") == "a" + fffd + "b");
  // A character cut short is one subpart, however many of its bytes came.
  CHECK(repair_utf8("\xF0\x9F\x98 x") == fffd + " x");
  CHECK(repair_utf8("x\xE2\x82") == "x" + fffd);
  // A lone continuation byte, an overlong form, a surrogate (as CESU bytes): each byte on its own.
  CHECK(repair_utf8("\x80") == fffd);
  CHECK(repair_utf8("\xC0\xAF") == fffd + fffd);
  CHECK(repair_utf8("\xED\xB0\x80") == fffd + fffd + fffd);
  CHECK(repair_utf8("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // beyond U+10FFFF
  for (std::string bad : {"\xFF", "\xC3", "\xED\xA0\x80", "ab\xF0\x9F"}) {
    INFO(bad);
    CHECK_FALSE(is_utf8(bad));
    CHECK(is_utf8(repair_utf8(bad)));
  }
}

TEST_CASE("is_utf8 agrees with repair_utf8 on every two-byte sequence") {
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      const std::string text{static_cast<char>(a), static_cast<char>(b)};
      INFO(a << " " << b);
      REQUIRE(is_utf8(text) == (repair_utf8(text) == text));
    }
  }
}

TEST_CASE("one_line escapes control characters, repairs UTF-8, and changes nothing the second time") {
  CHECK(one_line("upstream error: q\nuota") == "upstream error: q\\x0auota");
  CHECK(one_line("\x1b[2J\r\t\x7f") == "\\x1b[2J\\x0d\\x09\\x7f");
  CHECK(one_line("C1 \xC2\x9B"
                 "31m") == "C1 \\u009b31m");
  CHECK(one_line("bad \xFF byte, caf\xC3\xA9") == "bad " + fffd + " byte, caf\xC3\xA9");
  CHECK(one_line("a back\\slash") == "a back\\slash");
  CHECK(one_line("a back\\slash", true) == "a back\\x5cslash");
  for (std::string text : {"q\nuota", "\x1b[31m\xFF", "\xC2\x85 next line", "tab\there"}) {
    INFO(text);
    const std::string once = one_line(text);
    CHECK(one_line(once) == once);
    CHECK(is_utf8(once));
    CHECK(once.find_first_of(std::string("\n\r\x1b\0", 4)) == std::string::npos);
  }
}
