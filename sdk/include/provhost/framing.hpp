// framing.hpp: turn response bytes that arrive in arbitrary chunks into lines, server-sent events
// or NDJSON records. A chunk may end anywhere, mid-line or mid-character: the framers keep the
// incomplete tail and hand out only whole lines, so a UTF-8 character is never split.
//
// Header-only, standard library only, so plugins link nothing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace provhost {

// Splits a byte stream into lines ending in "\n", "\r\n" or "\r" (the terminator is not part of
// the line). A "\r" at the very end of a chunk waits for the next chunk to see whether "\n" follows.
class LineFramer {
 public:
  // Calls on_line(std::string_view line) for every complete line in `chunk`.
  template <class OnLine>
  void feed(std::string_view chunk, OnLine &&on_line) {
    for (char c : chunk) {
      if (pending_cr_) {
        pending_cr_ = false;
        if (c == '\n') continue;  // the "\n" of a "\r\n" whose "\r" ended the line already
      }
      if (c == '\n' || c == '\r') {
        pending_cr_ = (c == '\r');
        on_line(std::string_view(partial_));
        partial_.clear();
      } else {
        partial_.push_back(c);
      }
    }
  }

  // At the end of the stream: hands out a last line that had no terminator, if any.
  template <class OnLine>
  void finish(OnLine &&on_line) {
    pending_cr_ = false;
    if (!partial_.empty()) {
      std::string last;
      last.swap(partial_);
      on_line(std::string_view(last));
    }
  }

  // Bytes received but not yet handed out as a line.
  const std::string &pending() const { return partial_; }

 private:
  std::string partial_;
  bool pending_cr_ = false;
};

// One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html).
struct SseEvent {
  std::string event;              // the "event:" field, empty when absent
  std::vector<std::string> data;  // every "data:" line of the event, in order
  std::string id;
};

// Groups lines into server-sent events; an event ends at a blank line. Comment lines (":...") are
// skipped; "field:value" and "field: value" are both accepted, as the standard says.
class SseFramer {
 public:
  // Calls on_event(const SseEvent&) for every complete event in `chunk`.
  template <class OnEvent>
  void feed(std::string_view chunk, OnEvent &&on_event) {
    lines_.feed(chunk, [&](std::string_view line) { take_line(line, on_event); });
  }

  // At the end of the stream: dispatches an event that was not closed by a blank line.
  template <class OnEvent>
  void finish(OnEvent &&on_event) {
    lines_.finish([&](std::string_view line) { take_line(line, on_event); });
    if (has_fields_) dispatch(on_event);
  }

 private:
  template <class OnEvent>
  void take_line(std::string_view line, OnEvent &on_event) {
    if (line.empty()) {
      if (has_fields_) dispatch(on_event);
      return;
    }
    if (line.front() == ':') return;
    std::string_view field = line, value;
    if (auto colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    has_fields_ = true;
    if (field == "data") {
      current_.data.emplace_back(value);
    } else if (field == "event") {
      current_.event.assign(value);
    } else if (field == "id") {
      current_.id.assign(value);
    }
  }

  template <class OnEvent>
  void dispatch(OnEvent &on_event) {
    SseEvent ready;
    std::swap(ready, current_);
    has_fields_ = false;
    on_event(static_cast<const SseEvent &>(ready));
  }

  LineFramer lines_;
  SseEvent current_;
  bool has_fields_ = false;
};

// Newline-delimited JSON: one record a line; blank (or all-whitespace) lines are skipped.
class NdjsonFramer {
 public:
  // Calls on_record(std::string_view record) for every complete non-blank line.
  template <class OnRecord>
  void feed(std::string_view chunk, OnRecord &&on_record) {
    lines_.feed(chunk, [&](std::string_view line) {
      if (!is_blank(line)) on_record(line);
    });
  }

  template <class OnRecord>
  void finish(OnRecord &&on_record) {
    lines_.finish([&](std::string_view line) {
      if (!is_blank(line)) on_record(line);
    });
  }

 private:
  static bool is_blank(std::string_view line) { return line.find_first_not_of(" \t") == std::string_view::npos; }
  LineFramer lines_;
};

// Removes leading and trailing ASCII whitespace.
inline std::string_view trim(std::string_view text) {
  const char *space = " \t\r\n\f\v";
  auto first = text.find_first_not_of(space);
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(space);
  return text.substr(first, last - first + 1);
}

// If `line` starts with `prefix`, stores the rest in `rest` and returns true.
inline bool strip_prefix(std::string_view line, std::string_view prefix, std::string_view &rest) {
  if (line.substr(0, prefix.size()) != prefix) return false;
  rest = line.substr(prefix.size());
  return true;
}

}  // namespace provhost
