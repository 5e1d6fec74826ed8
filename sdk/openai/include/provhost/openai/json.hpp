// json.hpp: the RapidJSON chores every bundled plugin shares: strict parsing, serialising a request
// body, reading the caller's options and spotting an error object inside a 2xx answer.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <provhost/provider.hpp>
#include <provhost/text.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::openai {

using JsonAllocator = rapidjson::Document::AllocatorType;

namespace json_detail {

// What each byte is worth as a hex digit; kNotHex for any other byte. kNotHex survives the shifts of
// parse_hex4 above 16 bits, so one comparison tells a bad digit anywhere.
inline constexpr uint32_t kNotHex = 0x10000;
inline constexpr std::array<uint32_t, 256> kHexValue = [] {
  std::array<uint32_t, 256> values{};
  for (uint32_t &value : values) value = kNotHex;
  for (int c = 0; c < 10; ++c) values['0' + c] = static_cast<uint32_t>(c);
  for (int c = 0; c < 6; ++c) values['a' + c] = values['A' + c] = static_cast<uint32_t>(10 + c);
  return values;
}();

// The four hex digits of a "\u" escape at `at`, or -1. All four bytes are read (every caller has them: a
// length checked first, or a scanner's zero padding), by table and without a branch per digit.
inline long parse_hex4(const char *at) {
  const auto digit = [&](int i) { return kHexValue[static_cast<unsigned char>(at[i])]; };
  const uint32_t value = digit(0) << 12 | digit(1) << 8 | digit(2) << 4 | digit(3);
  return value > 0xFFFF ? -1 : static_cast<long>(value);
}

// Where the first "\u" escape of a surrogate that has no partner starts in `json`, from `from` on; npos when
// there is none. Backslashes only occur in strings, so the escapes are found without tracking the strings.
inline size_t find_lone_surrogate(std::string_view json, size_t from = 0) {
  for (size_t at = json.find('\\', from); at != std::string_view::npos; at = json.find('\\', at)) {
    if (json.size() - at < 6 || json[at + 1] != 'u') {
      at += 2;  // another escape, "\\\\" included
      continue;
    }
    const long unit = parse_hex4(json.data() + at + 2);
    if (unit >= 0xDC00 && unit <= 0xDFFF) return at;
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      const size_t next = at + 6;
      const bool paired = json.size() - next >= 6 && json[next] == '\\' && json[next + 1] == 'u' &&
                          parse_hex4(json.data() + next + 2) >= 0xDC00 && parse_hex4(json.data() + next + 2) <= 0xDFFF;
      if (!paired) return at;
      at = next;
    }
    at += 6;
  }
  return std::string_view::npos;
}

// `json` with each surrogate escape that has no partner replaced by "\\ufffd" (of the same length); nullopt when
// there is none, so that the common case copies nothing.
inline std::optional<std::string> replace_lone_surrogates(std::string_view json) {
  size_t lone = find_lone_surrogate(json);
  if (lone == std::string_view::npos) return std::nullopt;
  std::string replaced(json);
  for (; lone != std::string_view::npos; lone = find_lone_surrogate(replaced, lone + 6))
    replaced.replace(lone, 6, "\\ufffd");
  return replaced;
}

}  // namespace json_detail

// Invalid UTF-8 counts as undecodable: the host is promised whole UTF-8 characters in every text event.
//
// A surrogate escape without its partner ("\udc00", or "\ud800" alone) stands for no character. RapidJSON refuses a
// lone high one, and decodes a lone low one, even validating, to bytes that are not UTF-8; either is read here as
// "\ufffd", the replacement character, as a UTF-8 encoder writes what it cannot encode, so that no such escape
// costs a whole document nor lets ill-formed UTF-8 through (into a request sent upstream, for one).
inline bool parse_json(std::string_view text, rapidjson::Document &out) {
  // Iterative: an upstream that nests a million arrays must not exhaust the stack of the thread parsing it.
  constexpr unsigned flags = rapidjson::kParseIterativeFlag;
  // RapidJSON's check of the encoding costs a third of a parse: text that is UTF-8 as a whole (nearly every
  // answer) is parsed without it, and only other text with it, for RapidJSON's error and its offset (which
  // ended_early reads). Escapes decode the same either way, and replacing lone surrogates keeps text UTF-8.
  const auto parse = [&out](std::string_view json) {
    if (is_utf8(json))
      out.Parse<flags>(json.data(), json.size());
    else
      out.Parse<flags | rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  };
  if (const std::optional<std::string> replaced = json_detail::replace_lone_surrogates(text)) {
    parse(*replaced);  // not in situ: the document keeps its own copies
  } else {
    parse(text);
  }
  return !out.HasParseError();
}

// After parse_json failed: true when the text is only the start of a JSON document, i.e. the answer was cut
// short (which the host reports as truncated) rather than being garbage.
inline bool ended_early(const rapidjson::Document &failed, std::string_view text) {
  const size_t content_end = text.find_last_not_of(" \t\r\n") + 1;  // trailing whitespace cannot complete it
  switch (failed.GetParseError()) {
    case rapidjson::kParseErrorDocumentEmpty:
      return false;
    case rapidjson::kParseErrorStringInvalidEncoding:
      // Cut inside a UTF-8 character: the error is within its last (at most 4) bytes.
      return failed.GetErrorOffset() + 4 > content_end;
    default:
      return failed.GetErrorOffset() >= content_end;
  }
}

inline std::string_view as_view(const rapidjson::Value &string) {
  return std::string_view(string.GetString(), string.GetStringLength());
}

// The text of a string value that may be handed to the host, or nullopt for any other value. Even a validating
// parse decodes a lone "\uDC00" escape to bytes that are not UTF-8, so strings are checked once more.
inline std::optional<std::string_view> utf8_text(const rapidjson::Value &value) {
  if (!value.IsString() || !is_utf8(as_view(value))) return std::nullopt;
  return as_view(value);
}

// A copy of `text` that lives in `allocator`'s document.
inline rapidjson::Value json_string(std::string_view text, JsonAllocator &allocator) {
  return rapidjson::Value(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
}

// Validating the encoding here turns a caller's broken UTF-8 into a clear refusal rather than a body the
// upstream cannot parse.
inline std::string to_json(const rapidjson::Value &value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                    rapidjson::kWriteValidateEncodingFlag>
      writer(buffer);
  if (!value.Accept(writer)) throw ProviderError(Failure::bad_request, "the request contains text that is not UTF-8");
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The OpenAI-style messages array, role and content only.
inline rapidjson::Value messages_array(const std::vector<Message> &messages, JsonAllocator &allocator) {
  rapidjson::Value array(rapidjson::kArrayType);
  for (const Message &message : messages) {
    rapidjson::Value object(rapidjson::kObjectType);
    object.AddMember("role", json_string(message.role, allocator), allocator);
    object.AddMember("content", json_string(message.content, allocator), allocator);
    array.PushBack(object, allocator);
  }
  return array;
}

// ChatRequest::options_json as an object; anything else is the caller's mistake.
inline rapidjson::Document parse_options(std::string_view options_json) {
  rapidjson::Document options;
  if (options_json.empty()) {
    options.SetObject();
    return options;
  }
  if (!parse_json(options_json, options) || !options.IsObject())
    throw ProviderError(Failure::bad_request, "the options are not a JSON object");
  return options;
}

// The reason an upstream gave inside a 2xx answer ({"error": {"message": "..."}}, {"error": "..."}), or nullopt
// when `value` is not such an error object.
inline std::optional<std::string> error_message(const rapidjson::Value &value) {
  if (!value.IsObject()) return std::nullopt;
  auto error = value.FindMember("error");
  if (error == value.MemberEnd() || error->value.IsNull() || error->value.IsFalse()) return std::nullopt;
  const rapidjson::Value &detail = error->value;
  if (detail.IsString()) return std::string(as_view(detail));
  if (detail.IsObject()) {
    auto message = detail.FindMember("message");
    if (message != detail.MemberEnd() && message->value.IsString()) return std::string(as_view(message->value));
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  detail.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

inline void throw_if_error(const rapidjson::Value &value) {
  if (auto message = error_message(value)) throw ProviderError(Failure::upstream, "upstream error: " + *message);
}

// A short excerpt of skipped data for a warning: at most `limit` bytes, and always UTF-8 (the data was
// perhaps skipped because it was not), each undecodable byte shown as '?'.
inline std::string excerpt(std::string_view data, size_t limit = 80) {
  struct Sink {
    std::string &out;
    void Put(char c) { out.push_back(c); }
  };
  size_t cut = std::min(limit, data.size());
  // Back to a character boundary, so that the cut itself does not show as '?'.
  while (cut < data.size() && cut > 0 && (static_cast<unsigned char>(data[cut]) & 0xC0) == 0x80) --cut;
  const std::string_view head = data.substr(0, cut);
  std::string out;
  Sink sink{out};
  for (size_t pos = 0; pos < head.size();) {
    rapidjson::MemoryStream in(head.data() + pos, head.size() - pos);
    const size_t kept = out.size();
    if (rapidjson::UTF8<>::Validate(in, sink)) {
      pos += in.Tell();
    } else {
      out.resize(kept);
      out.push_back('?');
      ++pos;
    }
  }
  if (head.size() < data.size()) out += "...";
  return out;
}

}  // namespace provhost::openai
