// text.hpp: the small text chores that plugins and the host both need, written once: the ABI's ph_str to
// and from std::string_view, ASCII trimming and comparisons, UTF-8 validation and repair, and the one escaping of
// foreign text for terminals, logs and messages (one_line).
//
// Header-only, standard library only (and the SDK's C header for ph_str).
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace provhost {

// A borrowed ph_str as a view; a NULL pointer reads as empty whatever its size says, so that a malformed
// string from the other side of the ABI is never dereferenced.
inline std::string_view view(ph_str s) {
  return s.data && s.size ? std::string_view(s.data, s.size) : std::string_view();
}

// A view as a ph_str that borrows its bytes.
inline ph_str str(std::string_view s) { return ph_str{s.data(), s.size()}; }

// Copies `size` bytes from `in` to `out`, which do not overlap. A stream's tokens are a few bytes each, and copying
// one through a call to memcpy cost more than the copy: up to 16 bytes are moved here by two loads of a fixed width
// that overlap (or three single bytes), inlined.
inline void copy_bytes(char *out, const char *in, size_t size) {
  const auto fixed = [](char *to, const char *from, auto width) {
    char bytes[decltype(width)::value];
    std::memcpy(bytes, from, sizeof bytes);
    std::memcpy(to, bytes, sizeof bytes);
  };
  if (size > 16) {
    std::memcpy(out, in, size);
  } else if (size >= 8) {
    fixed(out, in, std::integral_constant<size_t, 8>());
    fixed(out + size - 8, in + size - 8, std::integral_constant<size_t, 8>());
  } else if (size >= 4) {
    fixed(out, in, std::integral_constant<size_t, 4>());
    fixed(out + size - 4, in + size - 4, std::integral_constant<size_t, 4>());
  } else if (size > 0) {
    out[0] = in[0];
    out[size / 2] = in[size / 2];
    out[size - 1] = in[size - 1];
  }
}

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

// How many bytes of well-formed UTF-8 (Unicode's table 3-7: shortest forms only, no surrogates, nothing above
// U+10FFFF) the character at `at` takes: 1 to 4, or 0 when none starts there. A negative answer -n means that the
// first n bytes are the start of a character that is cut short or broken there: its "maximal subpart", which
// repair_utf8 replaces by one U+FFFD as Unicode recommends (and as browsers and Python do).
inline int utf8_character(const unsigned char *at, const unsigned char *end) {
  const unsigned lead = *at;
  if (lead < 0x80) return 1;
  int length = 0;
  unsigned low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // E0 80..9F would be overlong
    if (lead == 0xED) high = 0x9F;  // ED A0..BF would be a surrogate
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // F0 80..8F would be overlong
    if (lead == 0xF4) high = 0x8F;  // F4 90..BF would be beyond U+10FFFF
  } else {
    return -1;  // a continuation byte, C0, C1 (overlong) or F5..FF
  }
  if (end - at < 2 || at[1] < low || at[1] > high) return -1;
  for (int i = 2; i < length; ++i) {
    if (end - at <= i || (at[i] & 0xC0) != 0x80) return -i;
  }
  return length;
}

namespace detail {

// UTF-8 validation as a deterministic automaton over bytes whose transitions for one byte are packed in one
// 64-bit word: the state is a shift (a multiple of 6), and the next state is the 6 bits of the byte's word at
// that shift. Each byte costs a load and a shift, with no branch (see "shift-based DFAs"). The states are those of
// Unicode's table 3-7: between characters, an error (a sink), and what the rest of a character must be.
namespace utf8_dfa {
enum State : unsigned {
  accept = 0,
  error = 6,
  tail1 = 12,     // one continuation byte (80..BF) left
  tail2 = 18,     // two left
  tail3 = 24,     // three left
  after_e0 = 30,  // A0..BF, then one more (no overlong three-byte forms)
  after_ed = 36,  // 80..9F, then one more (no surrogates)
  after_f0 = 42,  // 90..BF, then two more (no overlong four-byte forms)
  after_f4 = 48,  // 80..8F, then two more (nothing past U+10FFFF)
};

constexpr unsigned next_state(unsigned state, unsigned byte) {
  const bool continuation = byte >= 0x80 && byte <= 0xBF;
  switch (state) {
    case accept:
      if (byte < 0x80) return accept;
      if (byte >= 0xC2 && byte <= 0xDF) return tail1;
      if (byte == 0xE0) return after_e0;
      if (byte == 0xED) return after_ed;
      if (byte >= 0xE1 && byte <= 0xEF) return tail2;
      if (byte == 0xF0) return after_f0;
      if (byte == 0xF4) return after_f4;
      if (byte >= 0xF1 && byte <= 0xF3) return tail3;
      return error;
    case tail1:
      return continuation ? accept : error;
    case tail2:
      return continuation ? tail1 : error;
    case tail3:
      return continuation ? tail2 : error;
    case after_e0:
      return byte >= 0xA0 && byte <= 0xBF ? tail1 : error;
    case after_ed:
      return byte >= 0x80 && byte <= 0x9F ? tail1 : error;
    case after_f0:
      return byte >= 0x90 && byte <= 0xBF ? tail2 : error;
    case after_f4:
      return byte >= 0x80 && byte <= 0x8F ? tail2 : error;
    default:
      return error;
  }
}

struct Table {
  uint64_t rows[256];
};

constexpr Table make_table() {
  Table table{};
  constexpr unsigned states[] = {accept, error, tail1, tail2, tail3, after_e0, after_ed, after_f0, after_f4};
  for (unsigned byte = 0; byte < 256; ++byte) {
    uint64_t row = 0;
    for (unsigned state : states) row |= static_cast<uint64_t>(next_state(state, byte)) << state;
    table.rows[byte] = row;
  }
  return table;
}

inline constexpr Table table = make_table();

// The state after `byte`; only the low 6 bits of a state count, so that the shift needs no mask of its own.
inline uint64_t step(uint64_t state, unsigned char byte) { return table.rows[byte] >> (state & 63); }

}  // namespace utf8_dfa
}  // namespace detail

// True when `text` is well-formed UTF-8. Written out rather than taken from a JSON library, which costs several
// times as much per character: every piece of streamed text goes through here. Eight bytes at a time: skipped at
// once when they are ASCII between characters, else run through the automaton (above) without a branch per byte.
inline bool is_utf8(std::string_view text) {
  namespace dfa = detail::utf8_dfa;
  const auto *at = reinterpret_cast<const unsigned char *>(text.data());
  const auto *const end = at + text.size();
  uint64_t state = dfa::accept;
  for (; end - at >= 8; at += 8) {
    uint64_t word;
    std::memcpy(&word, at, 8);
    if (!(word & 0x8080808080808080u) && (state & 63) == dfa::accept) continue;
    for (int i = 0; i < 8; ++i) state = dfa::step(state, at[i]);
    if ((state & 63) == dfa::error) return false;
  }
  for (; at != end; ++at) state = dfa::step(state, *at);
  return (state & 63) == dfa::accept;
}

// `text` with each ill-formed sequence (its maximal subpart) replaced by U+FFFD, the replacement character; text
// that is already UTF-8 comes back as it is.
inline std::string repair_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  const auto *at = reinterpret_cast<const unsigned char *>(text.data());
  const auto *const end = at + text.size();
  while (at != end) {
    const int length = utf8_character(at, end);
    if (length > 0) {
      out.append(reinterpret_cast<const char *>(at), static_cast<size_t>(length));
      at += length;
    } else {
      out.append("\xEF\xBF\xBD");
      at += -length;
    }
  }
  return out;
}

// Appends `text` to `out` as one line of valid UTF-8 that is safe on a terminal and in a log: ill-formed
// sequences become U+FFFD, control characters (C0 and DEL as \xNN, C1 as \u00NN) are shown rather than obeyed,
// so that no plugin or upstream string can break a line, forge one or send a terminal an escape sequence.
// `escape_backslash` also writes '\\' as \x5c, for logs where an escape must be told from a backslash; without
// it, escaping what was already escaped changes nothing, so a message may cross several boundaries.
inline void append_one_line(std::string &out, std::string_view text, bool escape_backslash = false) {
  static constexpr char hex[] = "0123456789abcdef";
  const auto *at = reinterpret_cast<const unsigned char *>(text.data());
  const auto *const end = at + text.size();
  while (at != end) {
    const unsigned byte = *at;
    const int length = utf8_character(at, end);
    if (length <= 0) {
      out.append("\xEF\xBF\xBD");
      at += -length;
    } else if (byte < 0x20 || byte == 0x7f || (byte == '\\' && escape_backslash)) {
      out.append({'\\', 'x', hex[byte >> 4], hex[byte & 15]});
      ++at;
    } else if (byte == 0xC2 && at[1] < 0xA0) {  // U+0080..U+009F
      out.append({'\\', 'u', '0', '0', hex[at[1] >> 4], hex[at[1] & 15]});
      at += 2;
    } else {
      out.append(reinterpret_cast<const char *>(at), static_cast<size_t>(length));
      at += length;
    }
  }
}

inline std::string one_line(std::string_view text, bool escape_backslash = false) {
  std::string out;
  out.reserve(text.size());
  append_one_line(out, text, escape_backslash);
  return out;
}

}  // namespace provhost
