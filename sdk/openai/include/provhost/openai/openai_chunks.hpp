// openai_chunks.hpp: reading the OpenAI chat-completions answer shapes that Ylokh, ChatgptFree and
// FreeNetfly relay: a streamed chunk {"choices": [{"delta": {"content": "..."}}]} and a whole answer
// {"choices": [{"message": {"content": "..."}}]}.
#pragma once

#include <provhost/openai/json.hpp>
#include <provhost/openai/json_scan.hpp>
#include <provhost/provider.hpp>
#include <string>
#include <string_view>

namespace provhost::openai {

struct ChunkText {
  enum class Kind {
    text,         // `text` holds the content (possibly empty: role-only and finish_reason chunks carry none)
    unexpected,   // valid JSON without choices[0].<field>: skipped, worth a warning
    undecodable,  // not JSON (or not UTF-8): skipped, worth a warning
  };
  Kind kind = Kind::undecodable;
  std::string_view text;  // borrowed from what was read (see each reader)
};

// choices[0].<field>.content of a parsed answer, where <field> is "delta" for a streamed chunk and "message" for
// a whole answer; the text lives in `document`. Throws ProviderError(upstream) for an error object: that is the
// upstream failing, not noise.
inline ChunkText choice_content(const rapidjson::Value &document, const char *field) {
  throw_if_error(document);
  if (!document.IsObject()) return {ChunkText::Kind::unexpected, {}};
  auto choices = document.FindMember("choices");
  if (choices == document.MemberEnd() || !choices->value.IsArray()) return {ChunkText::Kind::unexpected, {}};
  // A closing usage chunk has no choices at all: nothing to say, nothing wrong.
  if (choices->value.Empty()) return {ChunkText::Kind::text, {}};
  if (!choices->value[0].IsObject()) return {ChunkText::Kind::unexpected, {}};
  const rapidjson::Value &choice = choices->value[0];
  auto part = choice.FindMember(field);
  if (part == choice.MemberEnd() || !part->value.IsObject()) return {ChunkText::Kind::unexpected, {}};
  auto content = part->value.FindMember("content");
  if (content == part->value.MemberEnd() || !content->value.IsString()) return {ChunkText::Kind::text, {}};
  if (auto text = utf8_text(content->value)) return {ChunkText::Kind::text, *text};
  return {ChunkText::Kind::undecodable, {}};
}

// Reads the streamed chunks of one answer, one after the other. The usual chunk is read by JsonScanner without
// building it, and a chunk that repeats the last one's frame around new content by reading only the content;
// anything the scanner does not answer for (an error object, a chunk without choices[0].delta,
// broken JSON or text that is not UTF-8) is read again by RapidJSON, so that it is sorted exactly as
// choice_content() sorts it.
class DeltaChunkReader {
 public:
  // The text stays valid until the next call.
  ChunkText read(std::string_view json) {
    if (frame_.match(json, buffer_, text_)) return {ChunkText::Kind::text, text_};
    if (scan(json)) {
      if (content_end_ > content_begin_) frame_.remember(json, content_begin_, content_end_);
      return {ChunkText::Kind::text, text_};
    }
    rapidjson::Document document;
    if (!parse_json(json, document)) return {ChunkText::Kind::undecodable, {}};
    ChunkText chunk = choice_content(document, "delta");
    slow_text_.assign(chunk.text);
    chunk.text = slow_text_;
    return chunk;
  }

  // When `rest` (what follows "data: " on a line, to the end of the bytes that arrived) starts with a chunk in the
  // last one's frame, followed by the line's end: hands its text to `events` and returns the chunk's length,
  // without looking for the line's end first (see LineFramer::feed). 0 when it does not: read the line as usual.
  size_t deliver_framed_line(std::string_view rest, Events &events) {
    std::string_view text;
    const size_t length = frame_.match_line(rest, buffer_, text);
    if (length) events.text(text);
    return length;
  }

  // Reads one chunk and hands its text to `events`, or warns that it was skipped.
  void deliver(std::string_view json, Events &events) {
    const ChunkText chunk = read(json);
    switch (chunk.kind) {
      case ChunkText::Kind::text:
        events.text(chunk.text);
        break;
      case ChunkText::Kind::unexpected:
        events.warning("skipped data without choices[0]: " + excerpt(json));
        break;
      case ChunkText::Kind::undecodable:
        events.warning("skipped undecodable data: " + excerpt(json));
        break;
    }
  }

 private:
  // The fast path; true when it read the chunk as choice_content() would, with the content in text_.
  bool scan(std::string_view json) {
    JsonScanner scanner(json, buffer_);
    text_ = {};
    content_begin_ = content_end_ = 0;
    std::string_view key;
    bool seen_choices = false, seen_error = false;
    if (!scanner.begin_object()) return false;
    while (scanner.next_member(key)) {
      // Like FindMember, only the first of repeated keys counts.
      if (key == "choices" && !seen_choices) {
        seen_choices = true;
        if (!scan_choices(scanner)) return false;
      } else if (key == "error" && !seen_error) {
        seen_error = true;
        const char value = scanner.peek();
        if (value != 'n' && value != 'f') return false;  // not null or false: an error for RapidJSON to report
        scanner.skip_value();
      } else {
        scanner.skip_value();
      }
    }
    return scanner.at_end() && seen_choices;
  }

  bool scan_choices(JsonScanner &scanner) {
    if (scanner.peek() != '[' || !scanner.begin_array()) return false;
    if (!scanner.next_element()) return scanner.ok();  // no choices: nothing to say
    if (scanner.peek() != '{' || !scanner.begin_object()) return false;
    std::string_view key;
    bool seen_delta = false;
    while (scanner.next_member(key)) {
      if (key == "delta" && !seen_delta) {
        seen_delta = true;
        if (!scan_delta(scanner)) return false;
      } else {
        scanner.skip_value();
      }
    }
    if (!seen_delta) return false;
    while (scanner.next_element()) scanner.skip_value();
    return scanner.ok();
  }

  bool scan_delta(JsonScanner &scanner) {
    if (scanner.peek() != '{' || !scanner.begin_object()) return false;
    std::string_view key;
    bool seen_content = false;
    while (scanner.next_member(key)) {
      if (key == "content" && !seen_content) {
        seen_content = true;
        // Content that is not a string (null in a role-only chunk) is no text.
        if (scanner.peek() != '"') {
          if (!scanner.skip_value()) return false;
          continue;
        }
        content_begin_ = scanner.position();
        if (!scanner.read_string(text_)) return false;
        content_end_ = scanner.position();
      } else {
        scanner.skip_value();
      }
    }
    return scanner.ok();
  }

  std::string buffer_;                          // the scanner's copy of the chunk
  std::string_view text_;                       // in buffer_
  size_t content_begin_ = 0, content_end_ = 0;  // where the content string lies in the chunk just scanned
  RepeatedFrame frame_;                         // of the last chunk with content
  std::string slow_text_;                       // RapidJSON's answer, kept past its document
};

}  // namespace provhost::openai
