// render.hpp: the bytes the emulator answers with, computed once per configuration.
//
// Pure functions, no I/O: the text is cut into tokens, each route's answer body is rendered from
// the tokens (whole, truncated before its terminator, or with an undecodable record in the
// middle), and a body is framed into a complete HTTP/1.1 response together with the offsets at
// which the server ends one socket write and starts the next.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provhost::emulator::detail {

enum class Route { koala, ylokh, chatgptfree, freenetfly, flowgpt };
inline constexpr std::size_t route_count = 5;

std::optional<Route> parse_route(std::string_view name);
std::string_view route_name(Route route);

// One answer format per route; Ylokh and ChatgptFree each have a streamed and a buffered one.
enum class Answer { koala, ylokh_stream, ylokh_json, chatgptfree_sse, chatgptfree_json, freenetfly, flowgpt };
inline constexpr std::size_t answer_count = 7;

enum class Shape {
  whole,
  truncated,  // the first half of the text, then the body ends without the protocol's terminator
  malformed,  // an undecodable record in the middle, everything else as in `whole`
};
inline constexpr std::size_t shape_count = 3;

bool is_valid_utf8(std::string_view text);

// Cuts `text` into pieces of at most `chunk_size` bytes that never split a UTF-8 character (a
// character longer than chunk_size gets a piece of its own); chunk_size 0 = one piece.
std::vector<std::string> tokenize(std::string_view text, std::size_t chunk_size);

// The tokens an answer carries: `events` of them, cycling through `pieces`.
struct Tokens {
  std::vector<std::string> pieces;
  std::size_t events = 0;

  Tokens(std::vector<std::string> text_pieces, std::size_t chunks);
  const std::string &at(std::size_t event) const { return pieces[event % pieces.size()]; }
  std::string joined(std::size_t begin, std::size_t end) const;  // tokens [begin, end) concatenated
  std::string text() const { return joined(0, events); }
};

std::string render_body(Answer answer, Shape shape, const Tokens &tokens);
std::string_view content_type(Answer answer);
bool is_streamed(Answer answer);  // sent with chunked encoding rather than a Content-Length

// A complete HTTP response as it goes on the wire, and where each socket write ends.
struct Wire {
  std::string bytes;
  std::vector<std::size_t> write_ends;  // increasing; the last one is bytes.size()
  std::size_t body_begin = 0;           // where the head ends

  // A point halfway through the body bytes, where `cut` and `stall` stop writing.
  std::size_t middle() const { return body_begin + (bytes.size() - body_begin) / 2; }
};

struct Head {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Frames `body` after `head`: in chunked encoding when `chunked`, else with a Content-Length.
// write_size 0 = each write carries 1-7 body bytes (pseudo-random, the same every time), and in
// chunked encoding each write is one HTTP chunk, so a client's decoder hands the body out in
// pieces that small no matter how the kernel coalesces the segments.
Wire frame(const Head &head, std::string_view body, bool chunked, std::size_t write_size);

// Percent-decoding of a form field or query value ('+' is a space).
std::string form_decode(std::string_view text);
// The value of `name` in "a=1&b=2" (decoded), nullopt when absent.
std::optional<std::string> form_field(std::string_view form, std::string_view name);

std::string json_string(std::string_view text, bool ascii_only = false);

}  // namespace provhost::emulator::detail
