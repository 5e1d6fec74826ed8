// json_scan_fuzzer.cpp: the plugins' JSON scanner (provhost/openai/json_scan.hpp) differentially against
// RapidJSON, on the whole input as one JSON text. The scanner may refuse any document (the plugin then asks
// RapidJSON), but whatever it accepts RapidJSON must accept, with the same structure and the same strings:
//   - a full JsonScanner walk (objects, arrays, strings decoded, scalars by kind);
//   - scan_string_document, scan_object_strings (the first of repeated keys, an "error" member refused)
//     and RepeatedFrame, as the plugins call them;
//   - every string it hands out is well-formed UTF-8;
// and, so that a scanner refusing everything does not pass, it must accept a document RapidJSON accepts
// when nothing in it is escaped, it is shallow and its numbers are far from the range of a double.
//
// RapidJSON is asked without encoding validation where the scanner deliberately does not look (the bytes
// of keys and of values it skips), and with it where it does.
#include <rapidjson/document.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <provhost/openai/json_scan.hpp>
#include <string>
#include <string_view>

#include "contract.hpp"

namespace {

using provhost::fuzz::violated;
using provhost::openai::JsonScanner;

constexpr int kWalkDepth = 48;  // below the scanner's own limit, so that its refusals there are not walked into

std::string_view text_of(const rapidjson::Value &value) { return {value.GetString(), value.GetStringLength()}; }

// Walks the next value with the scanner and compares it with `expected` (nullptr: RapidJSON refused the
// document; the walk still runs, to see whether the scanner accepts it). False when the scanner refused.
bool walk(JsonScanner &scanner, const rapidjson::Value *expected, int depth, std::string_view json) {
  const char first = scanner.peek();
  if (first == '{') {
    if (expected && !expected->IsObject()) violated("scanner saw an object where RapidJSON did not", json);
    if (depth >= kWalkDepth) return scanner.skip_value();
    if (!scanner.begin_object()) return false;
    std::string_view key;
    auto member = expected ? expected->MemberBegin() : rapidjson::Value::ConstMemberIterator();
    while (scanner.next_member(key)) {
      if (expected) {
        if (member == expected->MemberEnd()) violated("scanner saw more members than RapidJSON", json);
        if (text_of(member->name) != key) violated("scanner read another key than RapidJSON", json);
      }
      if (!walk(scanner, expected ? &member->value : nullptr, depth + 1, json)) return false;
      if (expected) ++member;
    }
    if (!scanner.ok()) return false;
    if (expected && member != expected->MemberEnd()) violated("scanner saw fewer members than RapidJSON", json);
    return true;
  }
  if (first == '[') {
    if (expected && !expected->IsArray()) violated("scanner saw an array where RapidJSON did not", json);
    if (depth >= kWalkDepth) return scanner.skip_value();
    if (!scanner.begin_array()) return false;
    rapidjson::SizeType index = 0;
    while (scanner.next_element()) {
      if (expected && index >= expected->Size()) violated("scanner saw more elements than RapidJSON", json);
      if (!walk(scanner, expected ? &(*expected)[index] : nullptr, depth + 1, json)) return false;
      ++index;
    }
    if (!scanner.ok()) return false;
    if (expected && index != expected->Size()) violated("scanner saw fewer elements than RapidJSON", json);
    return true;
  }
  if (first == '"') {
    std::string_view text;
    if (!scanner.read_string(text)) return false;
    if (!provhost::fuzz::well_formed_utf8(text)) violated("scanner handed out text that is not UTF-8", json);
    if (expected && (!expected->IsString() || text_of(*expected) != text))
      violated("scanner read another string than RapidJSON", json);
    return true;
  }
  if (!scanner.skip_value()) return false;
  if (expected) {
    const bool same_kind = first == 't'   ? expected->IsTrue()
                           : first == 'f' ? expected->IsFalse()
                           : first == 'n' ? expected->IsNull()
                                          : expected->IsNumber();
    if (!same_kind) violated("scanner saw another scalar than RapidJSON", json);
  }
  return true;
}

// Whether `value` nests deeper than `limit` containers; it looks no deeper than that, so that a document of
// a million levels costs the harness no stack.
bool deeper_than(const rapidjson::Value &value, int limit) {
  if (!value.IsObject() && !value.IsArray()) return false;
  if (limit == 0) return true;
  if (value.IsObject()) {
    for (const auto &member : value.GetObject())
      if (deeper_than(member.value, limit - 1)) return true;
  } else {
    for (const auto &element : value.GetArray())
      if (deeper_than(element, limit - 1)) return true;
  }
  return false;
}

// The scanner leaves numbers that may come near the range of a double (about 1e308) to RapidJSON, by a
// rough measure of its own; a text with an exponent or a long run of digits is never "plain" for it.
bool plain_numbers(std::string_view json) {
  size_t digits = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    const bool digit = json[i] >= '0' && json[i] <= '9';
    digits = digit ? digits + 1 : 0;
    if (digits > 250) return false;
    if ((json[i] == 'e' || json[i] == 'E') && i > 0 &&
        (std::isdigit(static_cast<unsigned char>(json[i - 1])) || json[i - 1] == '.'))
      return false;
  }
  return true;
}

void check_object_strings(std::string_view json, const rapidjson::Document &raw, bool raw_ok) {
  std::string buffer;
  std::array<provhost::openai::StringMember, 2> wanted{{{"content"}, {"text"}}};
  if (!provhost::openai::scan_object_strings(json, buffer, wanted)) return;
  if (!raw_ok || !raw.IsObject()) violated("scan_object_strings accepted what RapidJSON refused", json);
  const auto error = raw.FindMember("error");
  if (error != raw.MemberEnd() && !error->value.IsNull() && !error->value.IsFalse())
    violated("scan_object_strings passed over an error member", json);
  for (const auto &member : wanted) {
    const auto found = raw.FindMember(rapidjson::Value(rapidjson::StringRef(member.name.data(), member.name.size())));
    const bool is_string = found != raw.MemberEnd() && found->value.IsString();
    if (is_string != member.text.has_value()) violated("scan_object_strings found another member", json);
    if (!is_string) continue;
    if (*member.text != text_of(found->value)) violated("scan_object_strings read another string", json);
    if (!provhost::fuzz::well_formed_utf8(*member.text)) violated("scan_object_strings text is not UTF-8", json);
    // The token it reports is that string, which is what RepeatedFrame relies on.
    std::string token_buffer;
    std::string_view token_text;
    const std::string_view token = json.substr(member.token_begin, member.token_end - member.token_begin);
    JsonScanner token_scanner(token, token_buffer);
    if (!token_scanner.read_string(token_text) || !token_scanner.at_end() || token_text != *member.text)
      violated("scan_object_strings reported the wrong token", json);
    provhost::openai::RepeatedFrame frame;
    frame.remember(json, member.token_begin, member.token_end);
    std::string frame_buffer;
    std::string_view frame_text;
    if (!frame.match(json, frame_buffer, frame_text) || frame_text != *member.text)
      violated("RepeatedFrame does not read back the document it remembered", json);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view json(reinterpret_cast<const char *>(data), size);
  rapidjson::Document raw, validated;
  const bool raw_ok = !raw.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size()).HasParseError();
  const bool valid_ok =
      !validated.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(json.data(), json.size())
           .HasParseError();

  std::string buffer;
  JsonScanner scanner(json, buffer);
  const bool walked = walk(scanner, raw_ok ? &raw : nullptr, 0, json) && scanner.at_end();
  if (walked && !raw_ok) violated("scanner accepted what RapidJSON refused", json);
  // RapidJSON reads a text given by length through an EncodedInputStream, which drops the bytes of a UTF-8
  // byte order mark at the start one by one, whole or not (EF, BB and BF each): not JSON, and not the scanner's.
  const bool mark_bytes = !json.empty() && std::string_view("\xEF\xBB\xBF").find(json[0]) != std::string_view::npos;
  if (!walked && valid_ok && !mark_bytes && plain_numbers(json) && json.find('\\') == std::string_view::npos &&
      !deeper_than(validated, kWalkDepth - 1) && json.find('\0') == std::string_view::npos)
    violated("scanner refused a plain, shallow document RapidJSON accepts", json);

  std::string_view text;
  if (provhost::openai::scan_string_document(json, buffer, text)) {
    if (!valid_ok || !validated.IsString() || text_of(validated) != text)
      violated("scan_string_document differs from RapidJSON", json);
    if (!provhost::fuzz::well_formed_utf8(text)) violated("scan_string_document text is not UTF-8", json);
  }
  check_object_strings(json, raw, raw_ok);
  return 0;
}
