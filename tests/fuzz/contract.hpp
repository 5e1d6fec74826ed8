// contract.hpp: the checks the fuzz targets share. Each is written independently of the code under
// test (its own UTF-8 decoder, its own header grammar), so that a bug there cannot hide itself.
// A broken check aborts with a one-line reason, which libFuzzer reports with the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace provhost::fuzz {

// Bytes from the code under test, fit for a terminal: printable ASCII as it is, anything else as \xNN.
inline std::string printable(std::string_view bytes, size_t limit = 300) {
  std::string out;
  for (unsigned char c : bytes.substr(0, limit)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    }
  }
  return out;
}

[[noreturn]] inline void violated(std::string_view rule, std::string_view detail = {}) {
  std::fprintf(stderr, "CONTRACT VIOLATED: %.*s", static_cast<int>(rule.size()), rule.data());
  if (!detail.empty()) std::fprintf(stderr, ": %s", printable(detail).c_str());
  std::fputc('\n', stderr);
  std::abort();
}

#define PROVHOST_FUZZ_CHECK(condition, rule, detail)            \
  do {                                                          \
    if (!(condition)) ::provhost::fuzz::violated(rule, detail); \
  } while (0)

// Unicode's table 3-7, spelled out byte by byte: shortest forms only, no surrogates, nothing past
// U+10FFFF.
inline bool well_formed_utf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  auto byte = [&](size_t at) { return static_cast<unsigned char>(text[at]); };
  auto in = [](unsigned char c, unsigned char low, unsigned char high) { return c >= low && c <= high; };
  while (i < n) {
    const unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char second_low = 0x80, second_high = 0xBF;
    if (in(c, 0xC2, 0xDF)) {
      length = 2;
    } else if (c == 0xE0) {
      length = 3, second_low = 0xA0;
    } else if (in(c, 0xE1, 0xEC) || in(c, 0xEE, 0xEF)) {
      length = 3;
    } else if (c == 0xED) {
      length = 3, second_high = 0x9F;
    } else if (c == 0xF0) {
      length = 4, second_low = 0x90;
    } else if (in(c, 0xF1, 0xF3)) {
      length = 4;
    } else if (c == 0xF4) {
      length = 4, second_high = 0x8F;
    } else {
      return false;
    }
    if (n - i < length || !in(byte(i + 1), second_low, second_high)) return false;
    for (size_t k = 2; k < length; ++k)
      if (!in(byte(i + k), 0x80, 0xBF)) return false;
    i += length;
  }
  return true;
}

// One line, safe for a terminal: no line break and no other control character but a tab.
inline bool one_line(std::string_view text) {
  for (unsigned char c : text)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

// RFC 9110 5.6.2: token = 1*tchar.
inline bool http_token(std::string_view text) {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  }
  return true;
}

// RFC 9110 5.5: field-value = *field-content; visible characters, spaces, tabs and obs-text,
// no leading or trailing whitespace.
inline bool http_field_value(std::string_view text) {
  for (unsigned char c : text)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return text.empty() || (text.front() != ' ' && text.front() != '\t' && text.back() != ' ' && text.back() != '\t');
}

}  // namespace provhost::fuzz
