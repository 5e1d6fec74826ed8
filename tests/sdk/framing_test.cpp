// The framers must hand out the same lines / events / records however a stream is cut: at every single
// point, one byte at a time and at every pair of points.
#include <catch2/catch.hpp>
#include <provhost/framing.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using provhost::LineFramer;
using provhost::NdjsonFramer;
using provhost::SseEvent;
using provhost::SseFramer;

namespace {

// \r\n, \r and \n line ends, multi-byte UTF-8, a comment, multi-line data, a field without a colon, and a
// last event that the stream ends without closing.
const std::string kTrickyStream =
    "data: first\r\n"
    "data: second line\n"
    "\r\n"
    ": a comment\r"
    "event: update\r"
    "id: 7\r"
    "data:no space\r"
    "data: Привет 🙂\r"
    "\r"
    "data\n"
    "\n"
    "data: {\"k\": \"v\"}\r\n"
    "data: last";

std::vector<std::vector<size_t>> cut_plans(size_t size) {
  std::vector<std::vector<size_t>> plans{{}};
  std::vector<size_t> every_byte;
  for (size_t cut = 1; cut < size; ++cut) {
    plans.push_back({cut});
    every_byte.push_back(cut);
    for (size_t second = cut + 1; second < size; ++second) plans.push_back({cut, second});
  }
  plans.push_back(every_byte);
  return plans;
}

std::vector<std::string> pieces(const std::string &stream, const std::vector<size_t> &cuts) {
  std::vector<std::string> out;
  size_t from = 0;
  for (size_t cut : cuts) {
    out.push_back(stream.substr(from, cut - from));
    from = cut;
  }
  out.push_back(stream.substr(from));
  return out;
}

std::string describe(const std::vector<size_t> &cuts) {
  std::string text = "cuts:";
  for (size_t cut : cuts) {
    text += ' ';
    text += std::to_string(cut);
  }
  return text;
}

struct Event {
  std::string event, id;
  std::vector<std::string> data;
  bool operator==(const Event &) const = default;
};

std::vector<Event> sse_events(const std::string &stream, const std::vector<size_t> &cuts) {
  std::vector<Event> events;
  auto take = [&](const SseEvent &e) { events.push_back(Event{e.event, e.id, e.data}); };
  SseFramer framer;
  for (const std::string &piece : pieces(stream, cuts)) framer.feed(piece, take);
  framer.finish(take);
  return events;
}

// The framer as first written, byte by byte: what the fast one must agree with.
std::vector<std::string> reference_lines(const std::string &stream) {
  std::vector<std::string> lines;
  std::string partial;
  bool pending_cr = false;
  for (char c : stream) {
    if (pending_cr) {
      pending_cr = false;
      if (c == '\n') continue;
    }
    if (c == '\n' || c == '\r') {
      pending_cr = (c == '\r');
      lines.push_back(partial);
      partial.clear();
    } else {
      partial.push_back(c);
    }
  }
  if (!partial.empty()) lines.push_back(partial);
  return lines;
}

std::vector<std::string> framed_lines(const std::vector<std::string> &pieces) {
  std::vector<std::string> lines;
  LineFramer framer;
  auto take = [&](std::string_view line) { lines.emplace_back(line); };
  for (const std::string &piece : pieces) framer.feed(piece, take);
  framer.finish(take);
  return lines;
}

// Lines short and long (around the framer's 64-byte window and its multiples), of any byte but a line end
// (UTF-8, 0x00, 0xFF), ended by "\n", "\r" or "\r\n", the last one sometimes by nothing.
std::string random_stream(std::mt19937 &random) {
  const size_t lengths[] = {0, 0, 1, 2, 15, 16, 17, 62, 63, 64, 65, 127, 128, 129, 191, 300};
  const char *const ends[] = {"\n", "\r", "\r\n"};
  std::string alphabet = "ab {}\"\\:,\t\xFF\xD0\x9F";
  alphabet.push_back('\0');
  std::string stream;
  const int lines = 1 + static_cast<int>(random() % 120);
  for (int line = 0; line < lines; ++line) {
    const size_t length = lengths[random() % std::size(lengths)];
    for (size_t i = 0; i < length; ++i) stream += alphabet[random() % alphabet.size()];
    if (line + 1 < lines || random() % 2) stream += ends[random() % std::size(ends)];
  }
  return stream;
}

// `stream` in pieces of random sizes, many of them around 64 bytes.
std::vector<std::string> random_pieces(const std::string &stream, std::mt19937 &random) {
  const size_t sizes[] = {1, 2, 3, 7, 63, 64, 65, 100, 128, 1000};
  std::vector<std::string> out;
  for (size_t at = 0; at < stream.size();) {
    const size_t size = std::min(sizes[random() % std::size(sizes)], stream.size() - at);
    out.push_back(stream.substr(at, size));
    at += size;
  }
  return out;
}

// The lines of `pieces`, those that start with 'a' and end in the same piece read by a take_line that finds their
// end itself (marked "taken:"), the others handed to on_line; every offer must come at a line's start.
std::vector<std::string> lines_taking_a(const std::vector<std::string> &pieces, size_t &taken) {
  std::vector<std::string> lines;
  LineFramer framer;
  auto take_line = [&](std::string_view rest) -> size_t {
    const size_t line_end = rest.find_first_of("\r\n");
    if (rest.front() != 'a' || line_end == std::string_view::npos) return 0;
    lines.emplace_back(rest.substr(0, line_end));
    ++taken;
    return line_end;
  };
  auto on_line = [&](std::string_view line) { lines.emplace_back(line); };
  for (const std::string &piece : pieces) framer.feed(piece, take_line, on_line);
  framer.finish(on_line);
  return lines;
}

}  // namespace

TEST_CASE("LineFramer splits at \\r\\n, \\r and \\n however the stream is cut") {
  const std::vector<std::string> expected = {"data: first",
                                             "data: second line",
                                             "",
                                             ": a comment",
                                             "event: update",
                                             "id: 7",
                                             "data:no space",
                                             "data: Привет 🙂",
                                             "",
                                             "data",
                                             "",
                                             "data: {\"k\": \"v\"}",
                                             "data: last"};
  for (const auto &cuts : cut_plans(kTrickyStream.size())) {
    std::vector<std::string> lines;
    LineFramer framer;
    for (const std::string &piece : pieces(kTrickyStream, cuts))
      framer.feed(piece, [&](std::string_view line) { lines.emplace_back(line); });
    CHECK(framer.pending() == "data: last");
    framer.finish([&](std::string_view line) { lines.emplace_back(line); });
    INFO(describe(cuts));
    REQUIRE(lines == expected);
  }
}

TEST_CASE("LineFramer: a \\r at the end of the stream ends a line, and \\r\\r is an empty line") {
  std::vector<std::string> lines;
  LineFramer framer;
  auto take = [&](std::string_view line) { lines.emplace_back(line); };
  framer.feed("a\r", take);
  framer.feed("\rb\r", take);
  framer.finish(take);
  CHECK(lines == std::vector<std::string>{"a", "", "b"});
  CHECK(framer.pending().empty());
}

TEST_CASE("LineFramer agrees with a byte-by-byte reading of long streams in pieces of any size") {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 random(seed);
    const std::string stream = random_stream(random);
    const std::vector<std::string> expected = reference_lines(stream);
    INFO("seed " << seed);
    REQUIRE(framed_lines({stream}) == expected);
    const std::vector<std::string> stream_pieces = random_pieces(stream, random);
    REQUIRE(framed_lines(stream_pieces) == expected);
    // The same when a take_line reads some lines where they start.
    size_t taken = 0;
    REQUIRE(lines_taking_a({stream}, taken) == expected);
    REQUIRE(lines_taking_a(stream_pieces, taken) == expected);
  }
}

TEST_CASE("LineFramer: a \\r\\n counts once wherever it falls, across a chunk or the 64-byte window") {
  for (size_t before = 0; before < 140; ++before) {
    // The "\r\n" falls at every offset of the framer's window; then a lone "\r" and a long line.
    const std::string stream = std::string(before, 'x') + "\r\n" + "y\r" + std::string(70, 'z') + "\n";
    const std::vector<std::string> expected = {std::string(before, 'x'), "y", std::string(70, 'z')};
    INFO("line of " << before);
    REQUIRE(framed_lines({stream}) == expected);
    for (size_t cut = 1; cut < stream.size(); ++cut) {
      INFO("cut at " << cut);
      REQUIRE(framed_lines({stream.substr(0, cut), stream.substr(cut)}) == expected);
    }
  }
}

TEST_CASE("LineFramer: lines that take_line reads where they start come out in order with the others") {
  // Every cut of a stream of taken lines, between them, the \r\n and the empty lines.
  const std::string stream = "a1\r\na2\n\nb\ra3\r\r\na" + std::string(70, 'x') + "\nb2";
  const std::vector<std::string> expected = reference_lines(stream);
  size_t taken = 0;
  REQUIRE(lines_taking_a({stream}, taken) == expected);
  CHECK(taken == 4);
  for (const std::vector<size_t> &cuts : cut_plans(stream.size())) {
    INFO(describe(cuts));
    REQUIRE(lines_taking_a(pieces(stream, cuts), taken) == expected);
  }
}

TEST_CASE("LineFramer: empty chunks change nothing, a pending \\r included") {
  std::vector<std::string> lines;
  LineFramer framer;
  auto take = [&](std::string_view line) { lines.emplace_back(line); };
  framer.feed("a\r", take);
  framer.feed("", take);
  framer.feed("\nb", take);
  framer.feed("", take);
  framer.finish(take);
  CHECK(lines == std::vector<std::string>{"a", "b"});
}

TEST_CASE("SseFramer groups fields into events however the stream is cut") {
  const std::vector<Event> expected = {
      Event{"", "", {"first", "second line"}}, Event{"update", "7", {"no space", "Привет 🙂"}},
      Event{"", "", {""}},
      Event{"", "", {"{\"k\": \"v\"}", "last"}},  // dispatched by finish(): the stream ended mid-event
  };
  for (const auto &cuts : cut_plans(kTrickyStream.size())) {
    INFO(describe(cuts));
    REQUIRE(sse_events(kTrickyStream, cuts) == expected);
  }
}

TEST_CASE("SseFramer: comments alone make no event, and finish() after a closed event adds none") {
  CHECK(sse_events(": ping\n\n: pong\n\n", {}).empty());
  CHECK(sse_events("data: x\n\n", {}) == std::vector<Event>{Event{"", "", {"x"}}});
  CHECK(sse_events("data:  two spaces\n\n", {}) == std::vector<Event>{Event{"", "", {" two spaces"}}});
}

TEST_CASE("SseFramer: nothing of one event is left in the next, whatever the sizes of their fields") {
  const std::string long_data(300, 'L');
  const std::string stream = "event: first\nid: 1\ndata: " + long_data + "\ndata: two\ndata: three\n\n" +
                             "data: only\n\n" + "event: third\ndata: " + long_data + "\ndata:\n\n" + "id: 4\n\n";
  const std::vector<Event> expected = {
      Event{"first", "1", {long_data, "two", "three"}},
      Event{"", "", {"only"}},
      Event{"third", "", {long_data, ""}},
      Event{"", "4", {}},
  };
  CHECK(sse_events(stream, {}) == expected);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    INFO("cut at " << cut);
    REQUIRE(sse_events(stream, {cut}) == expected);
  }
}

TEST_CASE("SseFramer: an event whose handler throws leaves nothing behind for the next") {
  SseFramer framer;
  std::vector<Event> events;
  auto take = [&](const SseEvent &e) {
    if (e.event == "boom") throw std::runtime_error("handler failed");
    events.push_back(Event{e.event, e.id, e.data});
  };
  CHECK_THROWS_AS(framer.feed("event: boom\nid: 9\ndata: a\ndata: b\n\n", take), std::runtime_error);
  framer.feed("data: c\n\n", take);
  CHECK(events == std::vector<Event>{Event{"", "", {"c"}}});
}

TEST_CASE("NdjsonFramer hands out non-blank lines however the stream is cut") {
  const std::string stream = "{\"a\":1}\r\n\n  \t \n{\"b\":\"ж🙂\"}\r{\"c\":3}\r\n\r\n{\"d\":4}";
  const std::vector<std::string> expected = {"{\"a\":1}", "{\"b\":\"ж🙂\"}", "{\"c\":3}", "{\"d\":4}"};
  for (const auto &cuts : cut_plans(stream.size())) {
    std::vector<std::string> records;
    NdjsonFramer framer;
    auto take = [&](std::string_view record) { records.emplace_back(record); };
    for (const std::string &piece : pieces(stream, cuts)) framer.feed(piece, take);
    framer.finish(take);
    INFO(describe(cuts));
    REQUIRE(records == expected);
  }
}

TEST_CASE("trim, equals and strip_prefix") {
  CHECK(provhost::trim(" \t data: x \r\n") == "data: x");
  CHECK(provhost::trim(" \r\n\t").empty());
  CHECK(provhost::trim("").empty());
  CHECK(provhost::trim("\f\va b\v\f") == "a b");
  CHECK(provhost::equals("[DONE]", "[DONE]"));
  CHECK_FALSE(provhost::equals("[DONE] ", "[DONE]"));
  CHECK_FALSE(provhost::equals("[DONe]", "[DONE]"));
  CHECK(provhost::equals("", ""));
  CHECK(provhost::equals(std::string_view(), ""));
  CHECK_FALSE(provhost::equals("", "x"));
  std::string_view rest;
  CHECK(provhost::strip_prefix("data: [DONE]", "data: ", rest));
  CHECK(rest == "[DONE]");
  CHECK_FALSE(provhost::strip_prefix("data:[DONE]", "data: ", rest));
}
