// openai_chunks.hpp: reading the OpenAI chat-completions answer shapes that Ylokh, ChatgptFree and
// FreeNetfly relay: a streamed chunk {"choices": [{"delta": {"content": "..."}}]} and a whole answer
// {"choices": [{"message": {"content": "..."}}]}.
#pragma once

#include <provhost/plugins/json.hpp>
#include <string>
#include <string_view>

namespace provhost::plugins {

struct ChunkText {
  enum class Kind {
    text,         // `text` holds the content (possibly empty: role-only and finish_reason chunks carry none)
    unexpected,   // valid JSON without choices[0].<field>: skipped, worth a warning
    undecodable,  // not JSON (or not UTF-8): skipped, worth a warning
  };
  Kind kind = Kind::undecodable;
  std::string text;
};

// choices[0].<field>.content of a parsed answer, where <field> is "delta" for a streamed chunk and "message" for
// a whole answer. Throws ProviderError(upstream) for an error object: that is the upstream failing, not noise.
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
  return {ChunkText::Kind::text, std::string(as_view(content->value))};
}

inline ChunkText read_delta_chunk(std::string_view json) {
  rapidjson::Document document;
  if (!parse_json(json, document)) return {ChunkText::Kind::undecodable, {}};
  return choice_content(document, "delta");
}

// The warning for a chunk that was skipped, or "" when it carried text.
inline std::string skipped_chunk_warning(const ChunkText &chunk, std::string_view json) {
  switch (chunk.kind) {
    case ChunkText::Kind::undecodable:
      return "skipped undecodable data: " + excerpt(json);
    case ChunkText::Kind::unexpected:
      return "skipped data without choices[0]: " + excerpt(json);
    case ChunkText::Kind::text:
      break;
  }
  return {};
}

}  // namespace provhost::plugins
