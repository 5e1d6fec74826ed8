// text.hpp: the small text chores that plugins and the host both need, written once: the ABI's ph_str to
// and from std::string_view, ASCII trimming and comparisons, and UTF-8 validation.
//
// Header-only, standard library only (and the SDK's C header for ph_str).
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace provhost {

// A borrowed ph_str as a view; a NULL pointer reads as empty whatever its size says, so that a malformed
// string from the other side of the ABI is never dereferenced.
inline std::string_view view(ph_str s) {
  return s.data && s.size ? std::string_view(s.data, s.size) : std::string_view();
}

// A view as a ph_str that borrows its bytes.
inline ph_str str(std::string_view s) { return ph_str{s.data(), s.size()}; }

// Removes leading and trailing ASCII whitespace.
inline std::string_view trim(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// `text == expected`, spelled out so that, inlined with a literal, it compares a known number of bytes in
// place: the framers and plugins ask it of every line.
inline bool equals(std::string_view text, std::string_view expected) {
  return text.size() == expected.size() &&
         (expected.empty() || std::memcmp(text.data(), expected.data(), expected.size()) == 0);
}

// If `line` starts with `prefix`, stores the rest in `rest` and returns true.
inline bool strip_prefix(std::string_view line, std::string_view prefix, std::string_view &rest) {
  if (!equals(line.substr(0, prefix.size()), prefix)) return false;
  rest = line.substr(prefix.size());
  return true;
}

// `text` between double quotes, for messages that name what the user typed: unknown "gpt-5".
inline std::string in_quotes(std::string_view text) {
  std::string out(1, '"');
  out.append(text);
  out.push_back('"');
  return out;
}

// Equal but for the case of ASCII letters, as HTTP header names and provider names compare. Other bytes
// (UTF-8 included) must match exactly; the locale plays no part.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// True when `text` is well-formed UTF-8 (Unicode's table 3-7): shortest forms only, no surrogates, nothing
// above U+10FFFF. Written out rather than taken from a JSON library, which costs several times as much per
// character: every piece of streamed text goes through here.
inline bool is_utf8(std::string_view text) {
  const auto *at = reinterpret_cast<const unsigned char *>(text.data());
  const auto *const end = at + text.size();
  // Answer text is mostly ASCII: eight bytes at a time up to the first byte with its top bit set.
  for (uint64_t word; end - at >= 8; at += 8) {
    std::memcpy(&word, at, 8);
    if (word & 0x8080808080808080u) break;
  }
  while (at != end) {
    const unsigned lead = *at;
    if (lead < 0x80) {
      ++at;
    } else if (lead < 0xE0) {
      // C0 and C1 would be overlong forms, 80..BF are continuation bytes.
      if (lead < 0xC2 || end - at < 2 || (at[1] & 0xC0) != 0x80) return false;
      at += 2;
    } else if (lead < 0xF0) {
      if (end - at < 3 || (at[2] & 0xC0) != 0x80) return false;
      // E0 80..9F would be overlong, ED A0..BF a surrogate.
      const unsigned second = at[1];
      if (second < (lead == 0xE0 ? 0xA0u : 0x80u) || second > (lead == 0xED ? 0x9Fu : 0xBFu)) return false;
      at += 3;
    } else {
      if (lead > 0xF4 || end - at < 4 || (at[2] & 0xC0) != 0x80 || (at[3] & 0xC0) != 0x80) return false;
      // F0 80..8F would be overlong, F4 90..BF beyond U+10FFFF.
      const unsigned second = at[1];
      if (second < (lead == 0xF0 ? 0x90u : 0x80u) || second > (lead == 0xF4 ? 0x8Fu : 0xBFu)) return false;
      at += 4;
    }
  }
  return true;
}

}  // namespace provhost
