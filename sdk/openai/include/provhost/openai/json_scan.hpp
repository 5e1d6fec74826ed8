// json_scan.hpp: reading a few fields out of a small JSON document without building it.
//
// Why not RapidJSON on the hot path: a streamed answer is ~100,000 small JSON documents of which a plugin
// wants one or two strings. Parsing each into a DOM (or even walking it with RapidJSON's SAX reader, which
// copies every string) cost several times what fetching the bytes did: on a 190-byte chat.completion.chunk,
// about 770 ns for a validating DOM and 440 ns for SAX, against under 100 ns for this scanner. JsonScanner is a pull
// reader over the text: it checks the syntax of everything it passes over but decodes only the strings it is asked for,
// and it allocates nothing once its buffer has grown. RepeatedFrame (below) goes further, for the documents of a stream
// that differ only in their text.
//
// It is deliberately incomplete. Whenever it cannot be sure to read a document as RapidJSON would (a key
// written with escapes, nesting deeper than it tracks) it stops, exactly as on a syntax error, and the
// caller asks RapidJSON instead. So the scanner is only ever a fast path: it never decides a hard case.
//
// Text it hands out is valid UTF-8. It does not look at the encoding of what it skips: a stray byte in a
// field nobody reads does not cost the text of the fields that are read.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <provhost/openai/json.hpp>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace provhost::openai {

// Pieces of JSON string decoding that JsonScanner and scan_string_document share.
namespace json_detail {

// What "\<e>" stands for, or 0 when it is not a one-letter escape.
inline char simple_escape(char e) {
  switch (e) {
    case '"':
      return '"';
    case '\\':
      return '\\';
    case '/':
      return '/';
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return 0;
  }
}

// The character a "\u" escape's `unit` stands for, `at` being just past its four digits (and `end` the end of
// the text): a high surrogate followed by a low one's escape is one character (`at` then moves past that
// escape); a surrogate without its partner stands for none and is read as U+FFFD, as parse_json reads it.
template <class Char>
inline uint32_t surrogate_pair(long unit, Char *&at, const char *end) {
  if (unit >= 0xDC00 && unit <= 0xDFFF) return 0xFFFD;
  if (unit < 0xD800 || unit > 0xDBFF) return static_cast<uint32_t>(unit);
  const long low = end - at >= 6 && at[0] == '\\' && at[1] == 'u' ? parse_hex4(at + 2) : -1;
  if (low < 0xDC00 || low > 0xDFFF) return 0xFFFD;
  at += 6;
  return static_cast<uint32_t>(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
}

// Writes `code_point` as UTF-8 from `out` on; returns where it stopped.
inline char *append_utf8(uint32_t code_point, char *out) {
  if (code_point < 0x80) {
    *out++ = static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    *out++ = static_cast<char>(0xC0 | (code_point >> 6));
    *out++ = static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    *out++ = static_cast<char>(0xE0 | (code_point >> 12));
    *out++ = static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    *out++ = static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    *out++ = static_cast<char>(0xF0 | (code_point >> 18));
    *out++ = static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    *out++ = static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    *out++ = static_cast<char>(0x80 | (code_point & 0x3F));
  }
  return out;
}

}  // namespace json_detail

// A pull reader over one JSON text. Every method returns false on a syntax error or when the scanner is not
// sure (see above); after that, ok() is false and every further call fails too. A typical walk:
//
//   JsonScanner json(text, buffer);
//   std::string_view key, value;
//   if (!json.begin_object()) return fallback();
//   while (json.next_member(key)) {
//     if (key == "data") json.read_string(value); else json.skip_value();
//   }
//   if (!json.at_end()) return fallback();   // at_end() also fails when ok() is false
//
// The scanner works on a copy of the text in `buffer` (reused from document to document, so that scanning
// allocates nothing once the buffer has grown) followed by zero bytes: a zero is no JSON character, so every
// check stops at the end without a bounds check of its own, and strings are decoded in place. Text read from
// the document points into `buffer`.
//
// The methods are small and meant to be inlined into one walk; the work behind them is done by static
// functions from position to position, so that the scanner's own state can stay in registers.
class JsonScanner {
 public:
  JsonScanner(std::string_view json, std::string &buffer) {
    if (buffer.size() < json.size() + kPadding) buffer.resize(json.size() + kPadding);
    if (!json.empty()) std::memcpy(buffer.data(), json.data(), json.size());
    std::memset(buffer.data() + json.size(), 0, kPadding);
    begin_ = at_ = buffer.data();
    end_ = at_ + json.size();
  }

  bool ok() const { return ok_; }

  // How far into the text the scanner has read.
  size_t position() const { return static_cast<size_t>(at_ - begin_); }

  // The first character of the next value: '{', '[', '"', 't', 'f', 'n', '-' or a digit; 0 when there is none.
  char peek() {
    at_ = skip_whitespace(at_);
    return *at_;  // after a failure, the zero padding
  }

  // Enters the object that comes next. Then next_member() walks its members.
  bool begin_object() { return enter('{'); }

  // Moves to the next member of the object being walked and stores its key (as written: keys with escapes
  // stop the scanner). False at the end of the object, which is then left. The caller must read or skip
  // each member's value before asking for the next member.
  bool next_member(std::string_view &key) {
    if (!next_item('}')) return false;
    if (*at_ != '"') return fail();
    char *start = at_ + 1;
    char *close = find_special(start);
    if (*close != '"') return fail();  // an escape ("\u0063ontent" would be "content") or broken
    key = std::string_view(start, static_cast<size_t>(close - start));
    at_ = skip_whitespace(close + 1);
    if (*at_ != ':') return fail();
    ++at_;
    return true;
  }

  // Enters the array that comes next. Then next_element() walks its elements.
  bool begin_array() { return enter('['); }

  // True when another element of the array being walked follows; false at its end, which is then left.
  bool next_element() { return next_item(']'); }

  // Reads the string that comes next, decoded and checked to be UTF-8.
  bool read_string(std::string_view &text) {
    at_ = skip_whitespace(at_);
    if (*at_ != '"') return fail();
    char *start = at_ + 1;
    char *end = find_special(start);
    if (!is_utf8(std::string_view(start, static_cast<size_t>(end - start)))) return fail();
    if (*end == '"') {
      at_ = end + 1;
    } else {
      at_ = decode_string_rest(end, end);
      if (!at_) return fail();
    }
    text = std::string_view(start, static_cast<size_t>(end - start));
    return true;
  }

  // Passes over the value that comes next, whatever it is, checking its syntax.
  bool skip_value() {
    at_ = skip_any_value(at_);
    return at_ || fail();
  }

  // True when the whole text has been read (only whitespace is left) and nothing failed.
  bool at_end() {
    at_ = skip_whitespace(at_);
    return ok_ && at_ == end_;
  }

 private:
  static constexpr size_t kPadding = 16;  // the widest read past a position: one sixteen-byte block
  static constexpr int kMaxDepth = 64;    // deeper documents are left to RapidJSON

  // After a failure at_ stays at the end, where the zero padding fails every further step: so no method
  // needs to check ok_ before it reads.
  bool fail() {
    ok_ = false;
    at_ = end_;
    return false;
  }

  bool enter(char open) {
    at_ = skip_whitespace(at_);
    if (*at_ != open) return fail();
    ++at_;
    first_ = true;
    return true;
  }

  // Before each item of a container: the separator, or the end of the container.
  bool next_item(char close) {
    at_ = skip_whitespace(at_);
    if (*at_ == close) {
      ++at_;
      first_ = false;  // the container just left is a value of the one around it
      return false;
    }
    if (first_) {
      first_ = false;
    } else {
      if (*at_ != ',') return fail();
      at_ = skip_whitespace(at_ + 1);
    }
    return true;
  }

  // The static functions below read from `at` and return where they stopped, or nullptr on a syntax error.

  static char *skip_whitespace(char *at) {
    // Compact JSON has none: one comparison tells.
    while (static_cast<unsigned char>(*at) <= ' ' && (*at == ' ' || *at == '\n' || *at == '\r' || *at == '\t')) ++at;
    return at;
  }

  // The first byte at or after `from` that a string cannot hold as it is: '"', '\\' or a control character
  // (the zero padding included, so the search never runs past the end).
  static char *find_special(char *from) {
    // Byte by byte first: the text was copied just now, and a wide load across the copy's separate stores
    // waits for them to reach the cache, which costs more than a short string.
    for (int i = 0; i < 16; ++i, ++from)
      if (*from == '"' || *from == '\\' || static_cast<unsigned char>(*from) < 0x20) return from;
#if defined(__SSE2__)
    // Sixteen bytes at a time for a long string.
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), below_space = _mm_set1_epi8(0x1F);
    for (;; from += 16) {
      const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i *>(from));
      const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(block, below_space), block);  // block <= 0x1F
      const __m128i hits =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash)), control);
      if (const int mask = _mm_movemask_epi8(hits)) return from + std::countr_zero(static_cast<unsigned>(mask));
    }
#else
    while (*from != '"' && *from != '\\' && static_cast<unsigned char>(*from) >= 0x20) ++from;
    return from;
#endif
  }

  // After an opening quote: past the closing quote, checking escapes on the way.
  static char *skip_string_rest(char *at) {
    for (;;) {
      at = find_special(at);
      if (*at == '"') return at + 1;
      if (*at != '\\') return nullptr;  // a control character, or the end
      const char escaped = at[1];
      at += 2;
      if (escaped == 'u') {
        const long unit = json_detail::parse_hex4(at);
        if (unit < 0) return nullptr;
        at += 4;
        // A pair is skipped whole; a surrogate alone is read as U+FFFD (see parse_json).
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          const long low = at[0] == '\\' && at[1] == 'u' ? json_detail::parse_hex4(at + 2) : -1;
          if (low >= 0xDC00 && low <= 0xDFFF) at += 6;
        }
      } else if (!json_detail::simple_escape(escaped)) {
        return nullptr;
      }
    }
  }

  // Decodes, in place, a string from its first escape (at `at`) to its closing quote, writing from `out` on
  // (which it leaves after the decoded text); returns the position past the quote. Writing never overtakes
  // reading: no escape is shorter than what it stands for. The text comes out UTF-8 or not at all: an escape
  // stands for a whole character (a surrogate without its partner for U+FFFD, as parse_json reads it), so it is
  // enough that each run of bytes between escapes is UTF-8 in itself.
  static char *decode_string_rest(char *at, char *&out) {
    for (;;) {
      if (*at == '"') return at + 1;
      if (*at != '\\') return nullptr;  // a control character, or the end
      const char escaped = at[1];
      at += 2;
      if (escaped == 'u') {
        const long unit = json_detail::parse_hex4(at);
        if (unit < 0) return nullptr;
        at += 4;
        out = json_detail::append_utf8(json_detail::surrogate_pair(unit, at, at + 6), out);
      } else if (const char plain = json_detail::simple_escape(escaped)) {
        *out++ = plain;
      } else {
        return nullptr;
      }
      char *plain_run = at;
      at = find_special(at);
      if (at != plain_run) {  // often escapes follow one another ("\u041f\u0440")
        if (!is_utf8(std::string_view(plain_run, static_cast<size_t>(at - plain_run)))) return nullptr;
        std::memmove(out, plain_run, static_cast<size_t>(at - plain_run));
        out += at - plain_run;
      }
    }
  }

  static char *skip_any_value(char *at) {
    at = skip_whitespace(at);
    switch (*at) {
      case '{':
      case '[':
        return skip_container(at);
      case '"':
        return skip_string_rest(at + 1);
      default:
        return skip_scalar(at);
    }
  }

  // An object or array and everything in it, without recursion: the kinds of the open containers are kept as
  // bits of a stack ('[' = 1).
  static char *skip_container(char *at) {
    uint64_t kinds = 0;
    int depth = 0;
    bool first = true;  // at the first item of the innermost container
    for (;;) {
      at = skip_whitespace(at);
      if (depth > 0) {
        if (*at == ((kinds & 1) ? ']' : '}')) {
          ++at;
          kinds >>= 1;
          first = false;
          if (--depth == 0) return at;
          continue;
        }
        if (!first) {
          if (*at != ',') return nullptr;
          at = skip_whitespace(at + 1);
        }
        if (!(kinds & 1)) {  // an object member: its key first
          if (*at != '"' || !(at = skip_string_rest(at + 1))) return nullptr;
          at = skip_whitespace(at);
          if (*at != ':') return nullptr;
          at = skip_whitespace(at + 1);
        }
      }
      const char c = *at;
      if (c == '{' || c == '[') {
        if (depth == kMaxDepth) return nullptr;
        ++at;
        kinds = (kinds << 1) | (c == '[' ? 1 : 0);
        ++depth;
        first = true;
        continue;
      }
      at = c == '"' ? skip_string_rest(at + 1) : skip_scalar(at);
      if (!at) return nullptr;
      first = false;
      if (depth == 0) return at;
    }
  }

  // A number, true, false or null.
  static char *skip_scalar(char *at) {
    switch (*at) {
      case 't':
        return skip_word(at, "true");
      case 'f':
        return skip_word(at, "false");
      case 'n':
        return skip_word(at, "null");
      default:
        return skip_number(at);
    }
  }

  static char *skip_word(char *at, std::string_view word) {
    // The zero padding is longer than any word, so the comparison stays inside the buffer.
    return std::memcmp(at, word.data(), word.size()) == 0 ? at + word.size() : nullptr;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  static char *skip_number(char *at) {
    if (*at == '-') ++at;
    if (!is_digit(*at)) return nullptr;
    const char *integer = at;
    if (*at++ != '0') at = skip_digits(at);
    long magnitude = at - integer;  // the number is below 10 to this power
    if (*at == '.') {
      if (!is_digit(*++at)) return nullptr;
      at = skip_digits(at);
    }
    if (*at == 'e' || *at == 'E') {
      ++at;
      const bool negative = *at == '-';
      if (*at == '+' || *at == '-') ++at;
      if (!is_digit(*at)) return nullptr;
      long exponent = 0;
      for (; is_digit(*at); ++at)
        if (exponent < 100000) exponent = exponent * 10 + (*at - '0');
      if (!negative) magnitude += exponent;
    }
    // RapidJSON refuses numbers past the range of a double (about 1e308), by rules of its own near that edge:
    // far from it, the scanner need not decide.
    return magnitude <= 300 ? at : nullptr;
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static char *skip_digits(char *at) {
    while (is_digit(*at)) ++at;
    return at;
  }

  char *begin_;
  char *at_;
  char *end_;
  bool first_ = false;  // at the first item of the container being walked
  bool ok_ = true;
};

namespace json_detail {

// Which bytes end a run of a string's plain text: '"', '\\' and the control characters, which a string cannot hold
// as they are. A table rather than three comparisons per byte.
inline constexpr std::array<bool, 256> kEndsPlainRun = [] {
  std::array<bool, 256> ends{};
  for (int c = 0; c < 0x20; ++c) ends[c] = true;
  ends['"'] = ends['\\'] = true;
  return ends;
}();

// find_plain_run_end on fewer than sixteen bytes, or without SSE2: eight bytes at a time, then one. `seen` has top
// bits set when bytes already passed had theirs.
[[gnu::noinline]] inline const char *find_plain_run_end_short(const char *at, const char *end, uint64_t seen,
                                                              bool &non_ascii) {
  constexpr uint64_t ones = 0x0101010101010101u, tops = 0x8080808080808080u;
  if constexpr (std::endian::native == std::endian::little) {
    for (; end - at >= 8; at += 8) {
      uint64_t word;
      std::memcpy(&word, at, 8);
      // The top bit of a byte of `zero(x)` is set where that byte of x is 0; a byte above one that is may show a
      // false hit, but the lowest hit is exact, and only the lowest is used.
      const auto zero = [](uint64_t x) { return (x - ones) & ~x & tops; };
      const uint64_t hits =
          zero(word ^ (ones * '"')) | zero(word ^ (ones * '\\')) | ((word - ones * 0x20) & ~word & tops);
      if (hits) {
        const int index = std::countr_zero(hits) / 8;
        seen |= word & ((uint64_t{1} << (8 * index)) - 1);  // the bytes before the hit
        non_ascii = (seen & tops) != 0;
        return at + index;
      }
      seen |= word;
    }
  }
  for (; at != end && !kEndsPlainRun[static_cast<unsigned char>(*at)]; ++at) seen |= static_cast<unsigned char>(*at);
  non_ascii = (seen & tops) != 0;
  return at;
}

// From `at` on: the first byte before `end` that ends a plain run (or `end`), and in `non_ascii` whether a byte
// before it has its top bit set (the run then needs a UTF-8 check). A streamed token is a few bytes, but it is
// looked for in a whole line's worth of chunk, so nearly every search is one block of sixteen bytes (SSE2, inlined
// into the reader): a third of the instructions of eight bytes at a time, which is left to the last bytes.
inline const char *find_plain_run_end(const char *at, const char *end, bool &non_ascii) {
#if defined(__SSE2__)
  unsigned high = 0;  // the top bits of the bytes passed
  if (end - at >= 16) {
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), below_space = _mm_set1_epi8(0x1F);
    for (; end - at >= 16; at += 16) {
      const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i *>(at));
      const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(block, below_space), block);  // block <= 0x1F
      const auto hits = static_cast<unsigned>(_mm_movemask_epi8(
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash)), control)));
      const auto block_high = static_cast<unsigned>(_mm_movemask_epi8(block));
      if (hits) {
        const int index = std::countr_zero(hits);
        non_ascii = (high | (block_high & ((1u << index) - 1))) != 0;  // the bytes before the hit
        return at + index;
      }
      high |= block_high;
    }
  }
  return find_plain_run_end_short(at, end, high ? 0x80 : 0, non_ascii);
#else
  return find_plain_run_end_short(at, end, 0, non_ascii);
#endif
}

// Makes room for `size` bytes of decoded text, growing geometrically: a buffer grows a few times per session, not
// per token.
inline void reserve_decoded(std::string &buffer, size_t size) {
  if (buffer.size() < size) buffer.resize(std::max(size, 2 * buffer.size()));
}

// scan_string_token from a string's first escape on: `run` starts the string's text, whose bytes up to the escape
// at `at` are plain and UTF-8. Apart, so that the usual string, without escapes, is read by a few inlined lines.
inline const char *scan_escaped_string(const char *run, const char *at, const char *end, std::string &buffer,
                                       std::string_view &text) {
  size_t decoded = 0;  // bytes of decoded text in buffer
  for (;;) {
    const std::string_view plain(run, static_cast<size_t>(at - run));
    reserve_decoded(buffer, decoded + plain.size());
    copy_bytes(buffer.data() + decoded, plain.data(), plain.size());
    decoded += plain.size();
    if (*at == '"') {
      text = std::string_view(buffer.data(), decoded);
      return at + 1;
    }
    // Escapes often follow one another ("\u041f\u0440"): each next one is taken here, with no search for a run.
    do {
      if (end - at < 2) return nullptr;      // an escape cut short
      reserve_decoded(buffer, decoded + 4);  // an escape stands for 4 bytes at most
      const char escaped = at[1];
      at += 2;
      if (escaped == 'u') {
        const long unit = end - at >= 4 ? parse_hex4(at) : -1;
        if (unit < 0) return nullptr;
        at += 4;
        char *const out = buffer.data() + decoded;
        decoded += static_cast<size_t>(append_utf8(surrogate_pair(unit, at, end), out) - out);
      } else if (const char plain_char = simple_escape(escaped)) {
        buffer[decoded++] = plain_char;
      } else {
        return nullptr;
      }
    } while (at != end && *at == '\\');
    run = at;
    if (at == end) return nullptr;
    if (*at == '"') continue;  // the string ends with an escape: no run to search
    bool non_ascii = false;
    at = find_plain_run_end(at, end, non_ascii);
    if (at == end) return nullptr;
    // An escape stands for a whole character, so the text is UTF-8 when each run between escapes is.
    if (non_ascii && !is_utf8(std::string_view(run, static_cast<size_t>(at - run)))) return nullptr;
    if (*at != '"' && *at != '\\') return nullptr;  // a control character
  }
}

}  // namespace json_detail

// The string token at `at` (its opening quote; `end` ends the text): where it ends, just past its closing quote,
// with its text, checked to be UTF-8 as JsonScanner::read_string checks it, in `text`; nullptr when there is no
// well-formed string there, closed before `end`. The text is a view of the input when the string has no escapes,
// else decoded into `buffer`. It reads no further than the closing quote, so that a caller may find a string at
// the start of all that follows it (the rest of a line, of a chunk).
inline const char *scan_string_token(const char *at, const char *end, std::string &buffer, std::string_view &text) {
  if (at == end || *at != '"') return nullptr;
  const char *const run = ++at;  // bytes to take as they are, up to the first escape or the closing quote
  if (at != end && *at == '\\') return json_detail::scan_escaped_string(run, at, end, buffer, text);
  bool non_ascii = false;
  at = json_detail::find_plain_run_end(at, end, non_ascii);
  if (at == end) return nullptr;
  if (non_ascii && !is_utf8(std::string_view(run, static_cast<size_t>(at - run)))) return nullptr;
  if (*at == '"') {
    text = std::string_view(run, static_cast<size_t>(at - run));
    return at + 1;
  }
  if (*at != '\\') return nullptr;  // a control character
  return json_detail::scan_escaped_string(run, at, end, buffer, text);
}

// When `json` is one string and nothing else (whitespace aside): its text, checked to be UTF-8 as
// JsonScanner::read_string checks it. False for any other document, which is then RapidJSON's to read.
//
// This is the path of nearly every token of a stream (a Koala line, and the text in a RepeatedFrame), so it
// reads `json` where it lies rather than through a scanner's copy: the text is a view of `json` itself when
// it has no escapes, else decoded into `buffer`.
inline bool scan_string_document(std::string_view json, std::string &buffer, std::string_view &text) {
  const char *at = json.data();
  const char *const end = at + json.size();
  auto skip_whitespace = [&] {
    while (at != end && (*at == ' ' || *at == '\n' || *at == '\r' || *at == '\t')) ++at;
  };
  skip_whitespace();
  at = scan_string_token(at, end, buffer, text);
  if (!at) return false;
  skip_whitespace();
  return at == end;
}

// A member of an object to read; only the first of repeated keys counts, as RapidJSON's FindMember finds it.
struct StringMember {
  std::string_view name;
  std::optional<std::string_view> text = std::nullopt;  // when present and a string (in the scanner's buffer)
  size_t token_begin = 0, token_end = 0;                // where that string, quotes included, lies in the JSON
};

// Reads the string members `wanted` of a JSON object in one pass. False when the scanner cannot answer for the
// document (not an object, broken JSON, text that is not UTF-8) or when it holds an "error" member that is not
// null or false: RapidJSON then reads it, and reports the error.
template <size_t N>
bool scan_object_strings(std::string_view json, std::string &buffer, std::array<StringMember, N> &wanted) {
  for (StringMember &member : wanted) member = StringMember{member.name};
  JsonScanner scanner(json, buffer);
  std::array<bool, N> seen{};
  bool seen_error = false;
  std::string_view key;
  if (!scanner.begin_object()) return false;
  while (scanner.next_member(key)) {
    size_t index = 0;
    while (index < N && (seen[index] || wanted[index].name != key)) ++index;
    if (index < N) {
      seen[index] = true;
      std::string_view text;
      if (scanner.peek() != '"') {
        scanner.skip_value();
      } else {
        wanted[index].token_begin = scanner.position();
        if (scanner.read_string(text)) wanted[index].text = text;
        wanted[index].token_end = scanner.position();
      }
    } else if (key == "error" && !seen_error) {
      seen_error = true;
      const char value = scanner.peek();
      if (value != 'n' && value != 'f') return false;
      scanner.skip_value();
    } else {
      scanner.skip_value();
    }
  }
  return scanner.at_end();
}

// A stream repeats the frame around its text: every chunk is {"id":"x",...,"content":"<token>"},...} with only
// <token> changing. Remembering the bytes before and after the varying string of a document that was read in
// full, a document with the very same bytes before and after it needs only that string read: replacing one
// string value by another leaves the document's structure, and every other value in it, as it was. (So a
// remembered frame stays true whatever documents come in between.)
class RepeatedFrame {
 public:
  // When `json` is the remembered frame around one string: that string's text (in `buffer`).
  bool match(std::string_view json, std::string &buffer, std::string_view &text) const {
    if (!known_ || json.size() <= before_.size() + after_.size()) return false;
    if (std::memcmp(json.data(), before_.data(), before_.size()) != 0 ||
        std::memcmp(json.data() + json.size() - after_.size(), after_.data(), after_.size()) != 0)
      return false;
    return scan_string_document(json.substr(before_.size(), json.size() - before_.size() - after_.size()), buffer,
                                text);
  }

  // The same match without knowing where the document ends: when `rest` starts with a line that is the remembered
  // frame around one string (the string right after the bytes before it, the bytes after it followed by "\n" or
  // "\r"), that string's text and the line's length; 0 otherwise. Such a line is the document match() would read
  // to the same text, so a reader may skip looking for its end. A string holds no line end, and a frame that
  // does (JSON may have them between its tokens) is never matched here, so no line end comes before the one found.
  size_t match_line(std::string_view rest, std::string &buffer, std::string_view &text) const {
    if (!known_ || !one_line_ || rest.size() <= before_.size() + after_.size() + 2) return 0;
    if (std::memcmp(rest.data(), before_.data(), before_.size()) != 0) return 0;
    const char *const end = rest.data() + rest.size();
    const char *const close = scan_string_token(rest.data() + before_.size(), end, buffer, text);
    if (!close || static_cast<size_t>(end - close) <= after_.size()) return 0;
    if (std::memcmp(close, after_.data(), after_.size()) != 0) return 0;
    const char *const line_end = close + after_.size();
    if (*line_end != '\n' && *line_end != '\r') return 0;
    return static_cast<size_t>(line_end - rest.data());
  }

  // `json`, just read in full, has the string value that varies at [token_begin, token_end), quotes included.
  void remember(std::string_view json, size_t token_begin, size_t token_end) {
    before_.assign(json.substr(0, token_begin));
    after_.assign(json.substr(token_end));
    known_ = true;
    one_line_ = before_.find_first_of("\r\n") == std::string::npos && after_.find_first_of("\r\n") == std::string::npos;
  }

 private:
  std::string before_, after_;
  bool known_ = false;
  bool one_line_ = false;  // no line end in the frame: match_line may read it
};

}  // namespace provhost::openai
