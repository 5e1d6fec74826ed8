// framing.hpp: turn response bytes that arrive in arbitrary chunks into lines, server-sent events
// or NDJSON records. A chunk may end anywhere, mid-line or mid-character: the framers keep the
// incomplete tail and hand out only whole lines, so a UTF-8 character is never split.
//
// Header-only, standard library only (and the compiler's SSE2 intrinsics where it has them), so
// plugins link nothing.
#pragma once

#include <cstdint>
#include <cstring>
#include <provhost/text.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace provhost {

// Splits a byte stream into lines ending in "\n", "\r\n" or "\r" (the terminator is not part of
// the line). A "\r" at the very end of a chunk waits for the next chunk to see whether "\n" follows.
//
// A long answer is hundreds of thousands of short lines, so the framer is on every stream's hot path:
// it hands out a line that lies wholly inside the chunk as a view of the chunk itself (only a line
// split across chunks is copied, into a buffer reused from line to line), and it finds line ends 64
// bytes at a time rather than calling a search per line (see LineEnds).
class LineFramer {
 public:
  // Calls on_line(std::string_view line) for every complete line in `chunk`. The view is valid only
  // during the call.
  template <class OnLine>
  void feed(std::string_view chunk, OnLine &&on_line) {
    feed(chunk, take_no_line, on_line);
  }

  // The take_line of a reader that reads every line in on_line.
  static size_t take_no_line(std::string_view) { return 0; }

  // The same, offering each line that starts in `chunk` to take_line(std::string_view rest) first, `rest`
  // being the chunk from the line's start on. A reader that recognises its usual line there, without looking
  // for the line's end, reads it itself and returns its length: the line's end must follow, "\n" or "\r" at
  // rest[length], and no line end may come before it. It returns 0 to leave the line to on_line (it must then
  // have reported nothing). A stream of one repeated shape is read so in one pass over its bytes.
  template <class TakeLine, class OnLine>
  void feed(std::string_view chunk, TakeLine &&take_line, OnLine &&on_line) {
    const char *at = chunk.data();
    const char *const end = at + chunk.size();
    if (pending_cr_ && at != end) {
      pending_cr_ = false;
      if (*at == '\n') ++at;  // the "\n" of a "\r\n" whose "\r" ended the line already
    }
    LineEnds line_ends(at, end);
    while (at != end) {
      const char *line_end;
      if (!partial_.empty()) {
        line_end = line_ends.next(at);
        if (line_end == end) {
          partial_.append(at, static_cast<size_t>(end - at));
          return;
        }
        partial_.append(at, static_cast<size_t>(line_end - at));
        on_line(std::string_view(partial_));
        partial_.clear();
      } else if (*at == '\n' || *at == '\r') {
        line_end = at;  // an empty line, as between server-sent events: no search
        on_line(std::string_view());
      } else if (const size_t taken = take_line(std::string_view(at, static_cast<size_t>(end - at)))) {
        line_end = at + taken;
      } else {
        line_end = line_ends.next(at);
        if (line_end == end) {
          partial_.append(at, static_cast<size_t>(end - at));
          return;
        }
        on_line(std::string_view(at, static_cast<size_t>(line_end - at)));
      }
      at = line_end + 1;
      if (*line_end == '\r') {
        if (at == end) {
          pending_cr_ = true;
        } else if (*at == '\n') {
          ++at;
        }
      }
    }
  }

  // At the end of the stream: hands out a last line that had no terminator, if any.
  template <class OnLine>
  void finish(OnLine &&on_line) {
    pending_cr_ = false;
    if (!partial_.empty()) {
      on_line(std::string_view(partial_));
      partial_.clear();
    }
  }

  // Bytes received but not yet handed out as a line.
  const std::string &pending() const { return partial_; }

 private:
  // The "\r" and "\n" bytes of one chunk, as a bit mask over a 64-byte window that moves forward
  // through the chunk. Streamed lines are short (often empty): taking the next line end from the
  // mask costs a few instructions, where a memchr call per line cost more than the line itself.
  // The window is scanned only when a line end is asked for, from where the line starts: lines that
  // take_line read are never scanned.
  class LineEnds {
   public:
    LineEnds(const char *begin, const char *end) : begin_(begin), size_(static_cast<size_t>(end - begin)) {}

    // The first line end at or after `from`, or the end of the chunk. `from` never goes back.
    const char *next(const char *from) {
      const auto offset = static_cast<size_t>(from - begin_);
      if (!scanned_ || offset >= window_ + 64) {
        window_ = offset;
        bits_ = scan();
        scanned_ = true;
      }
      for (;;) {
        // Once the window has moved past the start of the line, every bit in it lies ahead.
        const size_t skipped = offset > window_ ? offset - window_ : 0;
        if (skipped < 64) {
          if (const uint64_t ahead = bits_ & (~uint64_t{0} << skipped)) return begin_ + window_ + lowest_bit(ahead);
        }
        if (size_ - window_ <= 64) return begin_ + size_;
        window_ += 64;
        bits_ = scan();
      }
    }

   private:
    // The index of the lowest set bit of a non-zero mask (std::countr_zero is C++20; the SDK is C++17).
    static int lowest_bit(uint64_t bits) {
#if defined(__GNUC__)
      return __builtin_ctzll(bits);
#else
      int index = 0;
      for (; !(bits & 1); bits >>= 1) ++index;
      return index;
#endif
    }

    // Bit i is set when the window's byte i ends a line; only bytes of the chunk count.
    uint64_t scan() const {
      const char *const window = begin_ + window_;
      const size_t size = size_ - window_;
      uint64_t bits = 0;
#if defined(__SSE2__)
#if defined(__GNUC__) && !defined(__clang__)
      // GCC 12 cannot always tell that the window lies inside a chunk of a byte or two, and warns of the
      // loads below although the size test guards them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif
      if (size >= 64) {
        const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
        for (int block = 0; block < 4; ++block) {
          const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(window + 16 * block));
          const int hits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(bytes, lf), _mm_cmpeq_epi8(bytes, cr)));
          bits |= static_cast<uint64_t>(static_cast<uint16_t>(hits)) << (16 * block);
        }
        return bits;
      }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
      for (size_t i = 0; i < size && i < 64; ++i)
        if (window[i] == '\n' || window[i] == '\r') bits |= uint64_t{1} << i;
      return bits;
    }

    const char *const begin_;
    const size_t size_;
    size_t window_ = 0;  // where the window starts, from begin_
    uint64_t bits_ = 0;
    bool scanned_ = false;
  };

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
//
// The event handed out is the framer's own, emptied after the call rather than rebuilt: its strings
// keep their capacity, so that a stream of small events costs no allocation per event.
class SseFramer {
 public:
  // Calls on_event(const SseEvent&) for every complete event in `chunk`. The event is valid only
  // during the call.
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
    size_t colon = 0;
    while (colon < line.size() && line[colon] != ':') ++colon;  // field names are short: no search call
    if (colon < line.size()) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    has_fields_ = true;
    if (equals(field, "data")) {
      add_data(value);
    } else if (equals(field, "event")) {
      current_.event.assign(value);
    } else if (equals(field, "id")) {
      current_.id.assign(value);
    }
  }

  // Data strings are kept from event to event and overwritten, those an event with fewer data lines does
  // not use set aside for the next with more: the framer allocates only for more lines than ever before.
  void add_data(std::string_view value) {
    if (data_lines_ == current_.data.size()) {
      if (spare_data_.empty()) {
        current_.data.emplace_back();
      } else {
        current_.data.push_back(std::move(spare_data_.back()));
        spare_data_.pop_back();
      }
    }
    current_.data[data_lines_++].assign(value);
  }

  template <class OnEvent>
  void dispatch(OnEvent &on_event) {
    while (current_.data.size() > data_lines_) {
      spare_data_.push_back(std::move(current_.data.back()));
      current_.data.pop_back();
    }
    // Emptied however on_event leaves, so that an exception cannot leak one event's fields into the next.
    struct Reset {
      SseFramer &framer;
      ~Reset() {
        framer.has_fields_ = false;
        framer.data_lines_ = 0;
        framer.current_.event.clear();
        framer.current_.id.clear();
      }
    } reset{*this};
    on_event(static_cast<const SseEvent &>(current_));
  }

  LineFramer lines_;
  SseEvent current_;
  size_t data_lines_ = 0;                // of current_.data, those of the event being read; the rest are old
  std::vector<std::string> spare_data_;  // data strings no event uses at the moment
  bool has_fields_ = false;
};

// Newline-delimited JSON: one record a line; blank (or all-whitespace) lines are skipped.
class NdjsonFramer {
 public:
  // Calls on_record(std::string_view record) for every complete non-blank line.
  template <class OnRecord>
  void feed(std::string_view chunk, OnRecord &&on_record) {
    feed(chunk, LineFramer::take_no_line, on_record);
  }

  // The same, offering each record to take_record(std::string_view rest) first, as LineFramer offers lines:
  // a record it reads itself is not handed to on_record.
  template <class TakeRecord, class OnRecord>
  void feed(std::string_view chunk, TakeRecord &&take_record, OnRecord &&on_record) {
    lines_.feed(chunk, take_record, [&](std::string_view line) {
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
  static bool is_blank(std::string_view line) {
    for (char c : line)
      if (c != ' ' && c != '\t') return false;
    return true;
  }
  LineFramer lines_;
};

}  // namespace provhost
