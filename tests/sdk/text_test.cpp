// provhost/text.hpp, the text chores the SDK and the host share: ph_str views, trimming, ASCII comparisons and
// UTF-8 validation, the last checked against RapidJSON's validator on every short sequence.
#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>

#include <catch2/catch.hpp>
#include <provhost/text.hpp>
#include <string>
#include <string_view>

using provhost::is_utf8;

namespace {

// RapidJSON's own validator: the reference for is_utf8.
bool rapidjson_utf8(std::string_view text) {
  struct Discard {
    void Put(char) {}
  } discard;
  rapidjson::MemoryStream in(text.data(), text.size());
  while (in.Tell() < text.size())
    if (!rapidjson::UTF8<>::Validate(in, discard)) return false;
  return true;
}

}  // namespace

TEST_CASE("view reads a NULL ph_str as empty whatever its size, and borrows the bytes otherwise") {
  CHECK(provhost::view(ph_str{nullptr, 0}).empty());
  CHECK(provhost::view(ph_str{nullptr, 5}).empty());
  const char bytes[] = "abc";
  CHECK(provhost::view(ph_str{bytes, 2}) == "ab");
  CHECK(provhost::view(ph_str{bytes, 2}).data() == bytes);
  const ph_str round_trip = provhost::str(std::string_view(bytes, 3));
  CHECK(round_trip.data == bytes);
  CHECK(round_trip.size == 3);
}

TEST_CASE("iequals ignores the case of ASCII letters only") {
  CHECK(provhost::iequals("Content-Type", "content-type"));
  CHECK(provhost::iequals("FREENETFLY", "FreeNetfly"));
  CHECK(provhost::iequals("", ""));
  CHECK_FALSE(provhost::iequals("Koala", "Koal"));
  CHECK_FALSE(provhost::iequals("Koala", "Koala "));
  CHECK_FALSE(provhost::iequals("a-b", "a_b"));
  CHECK_FALSE(provhost::iequals("@", "`"));  // 0x40 and 0x60 differ by the case bit but are not letters
  CHECK_FALSE(provhost::iequals("[", "{"));
  CHECK_FALSE(provhost::iequals("\xC3\x89", "\xC3\xA9"));  // É and é: not ASCII, compared as bytes
}

TEST_CASE("is_utf8 agrees with RapidJSON's validator on every sequence of up to three bytes") {
  std::string text(3, '\0');
  for (unsigned first = 0; first < 256; ++first) {
    text.resize(1);
    text[0] = static_cast<char>(first);
    REQUIRE(is_utf8(text) == rapidjson_utf8(text));
    for (unsigned second = 0; second < 256; ++second) {
      text.resize(2);
      text[1] = static_cast<char>(second);
      REQUIRE(is_utf8(text) == rapidjson_utf8(text));
      if (first < 0xE0 || first > 0xEF) continue;  // three-byte leads: every continuation
      text.resize(3);
      for (unsigned third = 0; third < 256; ++third) {
        text[2] = static_cast<char>(third);
        REQUIRE(is_utf8(text) == rapidjson_utf8(text));
      }
    }
  }
}

TEST_CASE("is_utf8 agrees with RapidJSON's validator on four-byte leads and at every offset of its eight-byte steps") {
  std::string text;
  for (unsigned first = 0xF0; first < 0x100; ++first)
    for (unsigned second = 0x80; second < 0xC0; ++second)
      for (const unsigned rest : {0x00u, 0x41u, 0x80u, 0x8Fu, 0xBFu, 0xC0u}) {
        text = {static_cast<char>(first), static_cast<char>(second), static_cast<char>(rest), static_cast<char>(rest)};
        REQUIRE(is_utf8(text) == rapidjson_utf8(text));
      }
  // Characters, cut characters and stray bytes after 0 to 16 bytes of ASCII, so that each falls at every place
  // of an eight-byte word and across two, and ASCII after them fills whole words again.
  const std::string pieces[] = {"\xC3\xA9",     "\xE4\xB8\x96", "\xF0\x9F\x99\x82", "\xED\x9F\xBF",
                                "\xED\xA0\x80", "\xE0\x9F\x80", "\xF4\x90\x80\x80", "\xC3",
                                "\x80",         "\xFF",         "\xC0\x80",         "\xF0\x9F\x99"};
  for (size_t ascii = 0; ascii <= 16; ++ascii)
    for (const std::string &first : pieces)
      for (const std::string &second : pieces)
        for (const size_t after : {size_t{0}, size_t{3}, size_t{9}}) {
          text = std::string(ascii, 'a') + first + second + std::string(after, 'b');
          INFO("ascii " << ascii << ", after " << after);
          REQUIRE(is_utf8(text) == rapidjson_utf8(text));
        }
}

TEST_CASE("is_utf8 refuses overlong forms, surrogates, code points past U+10FFFF and cut characters") {
  CHECK(is_utf8(""));
  CHECK(is_utf8("plain ASCII, longer than eight bytes"));
  CHECK(is_utf8("Привет, 世界 🦊 and more ASCII after it"));
  CHECK(is_utf8("\xF4\x8F\xBF\xBF"));        // U+10FFFF
  CHECK_FALSE(is_utf8("\xF4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(is_utf8("\xF0\x8F\xBF\xBF"));  // overlong four bytes
  CHECK_FALSE(is_utf8("\xE0\x9F\xBF"));      // overlong three bytes
  CHECK_FALSE(is_utf8("\xC1\xBF"));          // overlong two bytes
  CHECK_FALSE(is_utf8("\xED\xA0\x80"));      // a surrogate
  CHECK_FALSE(is_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(is_utf8("12345678\xF0\x9F\xA6"));  // cut after the ASCII fast path
  CHECK_FALSE(is_utf8("\xF0\x9F\xA6\x8A\x8A"));  // a stray continuation byte
  for (unsigned lead = 0xF0; lead < 0xF8; ++lead) {
    for (unsigned second = 0x70; second < 0xD0; ++second) {
      const std::string text = {static_cast<char>(lead), static_cast<char>(second), '\x80', '\xBF'};
      INFO(lead << " " << second);
      REQUIRE(is_utf8(text) == rapidjson_utf8(text));
    }
  }
}

TEST_CASE("copy_bytes copies every size exactly, and nothing before or after it") {
  std::string source;
  for (int i = 0; i < 40; ++i) source += static_cast<char>('a' + i % 26 + (i / 26) * 0x80);
  for (size_t size = 0; size <= 40; ++size) {
    std::string out(44, '#');
    provhost::copy_bytes(out.data() + 2, source.data(), size);
    INFO("size " << size);
    CHECK(out.substr(2, size) == source.substr(0, size));
    CHECK(out.substr(0, 2) == "##");
    CHECK(out.substr(2 + size) == std::string(42 - size, '#'));
  }
}
