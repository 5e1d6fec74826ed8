// framing_fuzzer.cpp: the SDK's framers (provhost/framing.hpp) over a fuzz-chosen stream, fed whole and
// cut at fuzz-chosen places. Every way of cutting gives the same lines, events and records; the lines
// are those of a plain byte-by-byte splitter written here, and NDJSON records are its non-blank lines.
//
// Input: the cut points are read from its end (FuzzedDataProvider), the rest is the stream, so a raw
// upstream answer is a seed as it is.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <provhost/framing.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "contract.hpp"

namespace {

using Lines = std::vector<std::string>;

struct FlatEvent {
  std::string event, id;
  std::vector<std::string> data;
  bool operator==(const FlatEvent &) const = default;
};

// Lines ended by "\n", "\r\n" or "\r"; a last line without an ending counts when it is not empty.
Lines reference_lines(std::string_view stream) {
  Lines lines;
  std::string line;
  for (size_t i = 0; i < stream.size(); ++i) {
    const char c = stream[i];
    if (c == '\r' || c == '\n') {
      lines.push_back(line);
      line.clear();
      if (c == '\r' && i + 1 < stream.size() && stream[i + 1] == '\n') ++i;
    } else {
      line.push_back(c);
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

template <class Framer, class Output, class Collect>
Output frame(std::string_view stream, const std::vector<size_t> &cuts, Collect collect) {
  Framer framer;
  Output output;
  size_t fed = 0;
  for (size_t cut : cuts) {
    framer.feed(stream.substr(fed, cut - fed), [&](const auto &item) { collect(output, item); });
    fed = cut;
  }
  framer.feed(stream.substr(fed), [&](const auto &item) { collect(output, item); });
  framer.finish([&](const auto &item) { collect(output, item); });
  return output;
}

void collect_line(Lines &lines, std::string_view line) { lines.emplace_back(line); }
void collect_event(std::vector<FlatEvent> &events, const provhost::SseEvent &event) {
  events.push_back(FlatEvent{event.event, event.id, event.data});
}

bool blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider input(data, size);
  std::vector<size_t> cuts(input.ConsumeIntegralInRange<size_t>(0, 32));
  for (size_t &cut : cuts) cut = input.ConsumeIntegral<uint32_t>();
  const std::string stream = input.ConsumeRemainingBytesAsString();
  for (size_t &cut : cuts) cut %= stream.size() + 1;
  std::sort(cuts.begin(), cuts.end());
  const std::vector<size_t> whole;

  const Lines expected = reference_lines(stream);
  const Lines lines = frame<provhost::LineFramer, Lines>(stream, cuts, collect_line);
  PROVHOST_FUZZ_CHECK(lines == expected, "LineFramer differs from the reference splitter", stream);

  Lines records;
  for (const std::string &line : expected)
    if (!blank(line)) records.push_back(line);
  PROVHOST_FUZZ_CHECK((frame<provhost::NdjsonFramer, Lines>(stream, cuts, collect_line) == records),
                      "NdjsonFramer differs from the non-blank lines", stream);

  const auto events = frame<provhost::SseFramer, std::vector<FlatEvent>>(stream, cuts, collect_event);
  const auto events_whole = frame<provhost::SseFramer, std::vector<FlatEvent>>(stream, whole, collect_event);
  PROVHOST_FUZZ_CHECK(events == events_whole, "SseFramer gives other events when the stream is cut", stream);
  // Each data line of an event is the rest of one "data" line of the stream.
  size_t data_lines = 0;
  for (const std::string &line : expected) data_lines += line.starts_with("data") ? 1 : 0;
  size_t event_data_lines = 0;
  for (const FlatEvent &event : events) event_data_lines += event.data.size();
  PROVHOST_FUZZ_CHECK(event_data_lines <= data_lines, "SseFramer has more data lines than the stream", stream);
  return 0;
}
