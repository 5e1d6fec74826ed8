// openai_stream.hpp: the one reader of OpenAI's streamed chat completions, for every plugin whose upstream
// relays them: server-sent `data: <chunk>` lines, each a chat.completion.chunk, ended by `data: [DONE]`.
#pragma once

#include <provhost/framing.hpp>
#include <provhost/openai/openai_chunks.hpp>
#include <provhost/provider.hpp>
#include <string_view>

namespace provhost::openai {

// The terminator is the whole payload, as OpenAI sends it; surrounding whitespace is forgiven. A payload that
// merely starts with "[DONE]" is not the end: it is a chunk like any other (and, not being JSON, skipped with
// a warning), so that stray text cannot end an answer early.
inline bool is_done_marker(std::string_view data) { return equals(trim(data), "[DONE]"); }

// Reads one answer's stream line by line. Every `data:` line is a chunk on its own (an event that carries two
// data lines carries two chunks, as these upstreams send them); other SSE lines (`event:`, `id:`, comments,
// the blank lines between events) carry nothing. After [DONE] the rest of the stream is ignored.
class OpenAiStreamReader {
 public:
  // Response bytes, split anywhere.
  void feed(std::string_view chunk, Events &events) {
    lines_.feed(
        chunk, [&](std::string_view rest) { return take_line(rest, events); },
        [&](std::string_view line) { read_line(line, events); });
  }

  // The response ended: a last line without a line break is read too. Without [DONE] the answer stays
  // unfinished, which the host reports as truncated.
  void finish(Events &events) {
    lines_.finish([&](std::string_view line) { read_line(line, events); });
  }

  // For a caller that frames lines itself with LineFramer: the usual line, `data: ` and a chunk in the last one's
  // frame, read where it starts in `rest` (see LineFramer::feed); 0 for any other line, left to read_line.
  size_t take_line(std::string_view rest, Events &events) {
    constexpr std::string_view prefix = "data: ";
    if (events.finished() || !equals(rest.substr(0, prefix.size()), prefix)) return 0;
    const size_t length = deltas_.deliver_framed_line(rest.substr(prefix.size()), events);
    return length ? prefix.size() + length : 0;
  }

  // One line of the stream, for a caller that frames lines itself. False when the line is not a `data:`
  // line (the SSE field name exactly, its value after an optional space), so that the caller may read it
  // as something else.
  bool read_line(std::string_view line, Events &events) {
    std::string_view data;
    if (!strip_prefix(line, "data:", data)) return false;
    if (events.finished()) return true;
    if (!data.empty() && data.front() == ' ') data.remove_prefix(1);
    if (is_done_marker(data)) {
      events.finish();
    } else {
      deltas_.deliver(data, events);
    }
    return true;
  }

 private:
  LineFramer lines_;
  DeltaChunkReader deltas_;
};

}  // namespace provhost::openai
