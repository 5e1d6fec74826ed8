// The framers must hand out the same lines / events / records however a stream is cut: at every single
// point, one byte at a time and at every pair of points.
#include <catch2/catch.hpp>
#include <provhost/framing.hpp>
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

TEST_CASE("trim and strip_prefix") {
  CHECK(provhost::trim(" \t data: x \r\n") == "data: x");
  CHECK(provhost::trim(" \r\n\t").empty());
  std::string_view rest;
  CHECK(provhost::strip_prefix("data: [DONE]", "data: ", rest));
  CHECK(rest == "[DONE]");
  CHECK_FALSE(provhost::strip_prefix("data:[DONE]", "data: ", rest));
}
