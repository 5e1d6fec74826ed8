// plugins/common's fast readers (json_scan.hpp, DeltaChunkReader), checked against RapidJSON: where
// the scanner answers, it must answer as RapidJSON would, and every text it hands out must be UTF-8.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <provhost/openai/json_scan.hpp>
#include <provhost/openai/openai_chunks.hpp>
#include <random>
#include <string>
#include <vector>

using namespace provhost::openai;

namespace {

// Whether the scanner, skipping the whole document, finds it well-formed.
bool scanner_accepts(const std::string &json) {
  std::string buffer;
  JsonScanner scanner(json, buffer);
  return scanner.skip_value() && scanner.at_end();
}

// As the plugins parse: RapidJSON, with surrogate escapes that have no partner read as U+FFFD.
bool rapidjson_accepts(const std::string &json) {
  rapidjson::Document document;
  const std::string repaired = json_detail::replace_lone_surrogates(json).value_or(json);
  document.Parse(repaired.data(), repaired.size());
  return !document.HasParseError();
}

// What the strict path alone makes of a streamed chunk: the meaning DeltaChunkReader must keep.
struct Reading {
  std::string kind;  // "text", "unexpected", "undecodable" or "error"
  std::string text;
  bool operator==(const Reading &) const = default;
};

Reading strict_reading(const std::string &json) {
  rapidjson::Document document;
  if (!parse_json(json, document)) return {"undecodable", ""};
  try {
    ChunkText chunk = choice_content(document, "delta");
    const char *kinds[] = {"text", "unexpected", "undecodable"};
    return {kinds[static_cast<int>(chunk.kind)], std::string(chunk.text)};
  } catch (const provhost::ProviderError &) {
    return {"error", ""};
  }
}

Reading fast_reading(DeltaChunkReader &reader, const std::string &json) {
  try {
    ChunkText chunk = reader.read(json);
    const char *kinds[] = {"text", "unexpected", "undecodable"};
    return {kinds[static_cast<int>(chunk.kind)], std::string(chunk.text)};
  } catch (const provhost::ProviderError &) {
    return {"error", ""};
  }
}

const std::vector<std::string> kChunks = {
    R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-3.5-turbo","choices":[{"index":0,"delta":{"content":"Hello!"},"finish_reason":null}]})",
    R"({"choices":[{"delta":{"role":"assistant","content":"a\"b\\c\u00e9\ud83e\udd8a"},"logprobs":null}],"usage":{"total_tokens":[1,2.5e-3,-0,true,false]}})",
    R"( { "choices" : [ { "delta" : { "content" : null } } ] , "error" : null } )",
    R"({"choices":[],"usage":{"prompt_tokens":3}})",
};

// Appends `text` with one byte deleted, replaced or inserted, at every position, from `characters`.
void add_one_byte_mutations(const std::string &text, const std::string &characters, std::vector<std::string> &out) {
  for (size_t at = 0; at < text.size(); ++at) {
    out.push_back(text.substr(0, at) + text.substr(at + 1));
    for (char c : characters) {
      std::string replaced = text;
      replaced[at] = c;
      out.push_back(replaced);
      out.push_back(text.substr(0, at) + c + text.substr(at));
    }
  }
}

// Every chunk of kChunks with one byte deleted, replaced or inserted, from characters that matter to JSON.
std::vector<std::string> mutations() {
  const std::string characters = "{}[]:,\"\\ 0-1.eEtfnu";
  std::vector<std::string> out;
  for (const std::string &chunk : kChunks) {
    out.push_back(chunk);
    add_one_byte_mutations(chunk, characters, out);
  }
  return out;
}

}  // namespace

TEST_CASE("parse_json reads a surrogate escape without its partner as U+FFFD, and utf8_text refuses ill-formed text") {
  rapidjson::Document document;
  // Alone, RapidJSON decodes a low one to bytes that are not UTF-8 (even validating) and refuses a high one.
  REQUIRE(parse_json(R"("\udc00")", document));
  CHECK(utf8_text(document) == "\xEF\xBF\xBD");
  REQUIRE(
      parse_json(R"(["\ud800", "\ud800\u0041", "x\\udc00", "\\\udc00", "\ud83e\udd8a", "\udd8a\ud83e"])", document));
  std::vector<std::string> texts;
  for (const auto &item : document.GetArray()) texts.emplace_back(*utf8_text(item));
  CHECK(texts == std::vector<std::string>{"\xEF\xBF\xBD",
                                          "\xEF\xBF\xBD"
                                          "A",
                                          "x\\udc00", "\\\xEF\xBF\xBD", "🦊", "\xEF\xBF\xBD\xEF\xBF\xBD"});
  // A document that holds no such escape is parsed as it is.
  REQUIRE(parse_json(R"({"cookie":"a\udc00b"})", document));
  CHECK(utf8_text(document["cookie"]) ==
        "a\xEF\xBF\xBD"
        "b");

  rapidjson::Value ill_formed("\xED\xB0\x80", document.GetAllocator());
  CHECK_FALSE(utf8_text(ill_formed));
}

TEST_CASE("JsonScanner finds well-formed JSON exactly where RapidJSON does") {
  for (const std::string &json : mutations()) {
    INFO(json);
    REQUIRE(scanner_accepts(json) == rapidjson_accepts(json));
  }
  for (const char *json :
       {"",       " ",           "0",           "-0.0e+0",       "01",        "1.",
        ".5",     "-",           "1e",          "1e+",           "tru",       "nul",
        "falsey", "\"a\" \"b\"", "[1 2]",       "[,1]",          "{\"a\" 1}", "{\"a\":1,}",
        "{1:2}",  "\"\\x\"",     "\"\\u12G4\"", "\"tab\there\"", "[[[]]]",    "{\"a\":{\"b\":[{}]}}"}) {
    INFO(json);
    CHECK(scanner_accepts(json) == rapidjson_accepts(json));
  }
}

TEST_CASE("JsonScanner leaves numbers near the edge of a double's range to RapidJSON") {
  DeltaChunkReader reader;
  for (const std::string &number :
       std::vector<std::string>{"1e300", "1e301", "1e308", "1e309", "0e309", "0.5e308", "-1e-99999", "1E+2",
                                std::string(300, '9'), std::string(309, '9'), "1" + std::string(400, '0') + "e-300"}) {
    const std::string json = R"({"created":)" + number + R"(,"choices":[{"delta":{"content":"x"}}]})";
    INFO(number);
    if (scanner_accepts(json)) CHECK(rapidjson_accepts(json));
    CHECK(fast_reading(reader, json) == strict_reading(json));
  }
}

TEST_CASE("JsonScanner stops at a zero byte, nesting deeper than it tracks, and a key it would have to decode") {
  CHECK_FALSE(scanner_accepts(std::string("{\"a\":1}\0", 8)));
  CHECK_FALSE(scanner_accepts(std::string("\"a\0b\"", 5)));
  CHECK(scanner_accepts(std::string(64, '[') + std::string(64, ']')));
  CHECK_FALSE(scanner_accepts(std::string(65, '[') + std::string(65, ']')));

  std::string buffer;
  std::string_view key;
  JsonScanner escaped_key(R"({"\u0063ontent":"x"})", buffer);
  REQUIRE(escaped_key.begin_object());
  CHECK_FALSE(escaped_key.next_member(key));
  CHECK_FALSE(escaped_key.ok());
  CHECK_FALSE(escaped_key.at_end());
}

TEST_CASE("JsonScanner walks members and elements and decodes the strings it reads") {
  std::string buffer;
  JsonScanner scanner(R"( {"skip": [1, {"x": "\u00e9"}], "text": "a\"b\\c\/d\b\f\n\r\t\u00e9\u4e2d\ud83e\udd8a",)"
                      R"( "list": ["one", "two"]} )",
                      buffer);
  std::string_view key, text;
  std::vector<std::string> keys, list;
  REQUIRE(scanner.begin_object());
  while (scanner.next_member(key)) {
    keys.emplace_back(key);
    if (key == "text") {
      REQUIRE(scanner.read_string(text));
      CHECK(text == "a\"b\\c/d\b\f\n\r\té中🦊");
    } else if (key == "list") {
      REQUIRE(scanner.begin_array());
      while (scanner.next_element()) {
        std::string_view item;
        REQUIRE(scanner.read_string(item));
        list.emplace_back(item);
      }
    } else {
      REQUIRE(scanner.skip_value());
    }
  }
  CHECK(scanner.at_end());
  CHECK(keys == std::vector<std::string>{"skip", "text", "list"});
  CHECK(list == std::vector<std::string>{"one", "two"});
}

TEST_CASE("JsonScanner hands out only UTF-8, and does not look at the encoding of what it skips") {
  std::string buffer;
  std::string_view text;
  for (const char *bad : {"\"\xFF\"", "\"\xC3\"", "\"\xED\xA0\x80\""}) {
    INFO(bad);
    CHECK_FALSE(scan_string_document(bad, buffer, text));
  }
  // A surrogate escape without its partner reads as U+FFFD, as parse_json reads it.
  CHECK(scan_string_document("\"\\ud800\\u0041x\\udc00\"", buffer, text));
  CHECK(text ==
        "\xEF\xBF\xBD"
        "Ax\xEF\xBF\xBD");
  CHECK(scan_string_document(" \"\\u041f\\u0440\\u0438\" ", buffer, text));
  CHECK(text == "При");
  CHECK(scanner_accepts("[\"\xFF\", 1]"));
}

TEST_CASE("scan_string_document reads exactly the strings RapidJSON reads, to the same text") {
  const std::string token = R"( "a\"b\\c\/\u00e9\ud83e\udd8a \u4E2D\n" )";
  std::string characters = "\"\\u0aAdD8fF \tn\x01\xC3\xA9\xFF";
  characters.push_back('\0');
  std::vector<std::string> texts = {token, "\"\"", "\"plain\"", "\"\xD0\x9F\xD1\x80\"", "\"\\udc00\""};
  add_one_byte_mutations(token, characters, texts);
  std::string buffer;
  for (const std::string &json : texts) {
    INFO(json);
    rapidjson::Document document;
    const bool strict = parse_json(json, document) && utf8_text(document).has_value();
    std::string_view text;
    if (scan_string_document(json, buffer, text)) {
      REQUIRE(strict);
      REQUIRE(text == *utf8_text(document));
    } else if (json.find('\0') == std::string::npos) {
      REQUIRE_FALSE(strict);  // where it gives up, RapidJSON finds no string either (a zero byte aside)
    }
  }
}

TEST_CASE("DeltaChunkReader reads every chunk as the strict RapidJSON reading does") {
  DeltaChunkReader fresh;
  std::vector<DeltaChunkReader> primed(kChunks.size());
  for (size_t i = 0; i < kChunks.size(); ++i) primed[i].read(kChunks[i]);  // remembers the chunk's frame
  for (const std::string &json : mutations()) {
    INFO(json);
    const Reading expected = strict_reading(json);
    REQUIRE(fast_reading(fresh, json) == expected);
    for (DeltaChunkReader &reader : primed) REQUIRE(fast_reading(reader, json) == expected);
  }
}

TEST_CASE("DeltaChunkReader: a chunk in the last one's frame reads only its content, first content first") {
  DeltaChunkReader reader;
  auto chunk = [](const std::string &content) {
    return R"({"id":"c","choices":[{"index":0,"delta":{"content":)" + content + R"(},"finish_reason":null}]})";
  };
  CHECK(reader.read(chunk("\"one\"")).text == "one");
  CHECK(reader.read(chunk(" \"tw\\u00f6\" ")).text == "twö");
  CHECK(reader.read(chunk("null")).kind == ChunkText::Kind::text);
  CHECK(reader.read(chunk("null")).text.empty());
  CHECK(reader.read(chunk("\"a\",\"content\":\"b\"")).text == "a");  // two contents: the first counts
  CHECK(reader.read(chunk("\"\\udc00\"")).text == "\xEF\xBF\xBD");
  CHECK(reader.read(chunk("\"bad \xFF\"")).kind == ChunkText::Kind::undecodable);
  CHECK(reader.read(chunk("\"unterminated")).kind == ChunkText::Kind::undecodable);
  CHECK(reader.read(chunk("\"three\"")).text == "three");
}

TEST_CASE("DeltaChunkReader: text that is not UTF-8 outside the content does not cost the content") {
  DeltaChunkReader reader;
  const std::string chunk = "{\"id\":\"\xFF\",\"choices\":[{\"delta\":{\"content\":\"kept\"}}]}";
  CHECK(strict_reading(chunk).kind == "undecodable");  // RapidJSON validates the whole chunk
  CHECK(reader.read(chunk).text == "kept");
  // Where RapidJSON must read the chunk (a key with an escape here), its text is checked all the same.
  CHECK(reader.read("{\"ch\\u006fices\":[{\"delta\":{\"content\":\"\xFF\"}}]}").kind == ChunkText::Kind::undecodable);
}

TEST_CASE("scan_object_strings reads the first of each wanted member, and leaves error objects to RapidJSON") {
  std::string buffer;
  std::array<StringMember, 2> fields{StringMember{"event"}, StringMember{"data"}};
  const std::string json = R"({"event":"text","x":{"data":"nested"},"data":"f\u00fcr","data":"second","n":1})";
  REQUIRE(scan_object_strings(json, buffer, fields));
  CHECK(fields[0].text == "text");
  CHECK(fields[1].text == "für");
  CHECK(json.substr(fields[1].token_begin, fields[1].token_end - fields[1].token_begin) == R"("f\u00fcr")");

  REQUIRE(scan_object_strings(R"({"data":{"chatId":"x"},"error":null})", buffer, fields));
  CHECK_FALSE(fields[0].text);
  CHECK_FALSE(fields[1].text);
  CHECK_FALSE(scan_object_strings(R"({"event":"text","error":{"message":"no"}})", buffer, fields));
  CHECK_FALSE(scan_object_strings(R"(["event","text"])", buffer, fields));
  CHECK_FALSE(scan_object_strings("{\"event\":\"text\",\"data\":\"\xFF\"}", buffer, fields));
  CHECK_FALSE(scan_object_strings(R"({"event":"text","data":"a"} x)", buffer, fields));
}

TEST_CASE("RepeatedFrame matches only the remembered bytes around one string") {
  std::string buffer;
  std::string_view text;
  RepeatedFrame frame;
  CHECK_FALSE(frame.match(R"({"data":"a"})", buffer, text));
  const std::string first = R"({"event":"text","data":"a"})";
  frame.remember(first, first.find("\"a\""), first.find("\"a\"") + 3);
  REQUIRE(frame.match(R"({"event":"text","data":"\u00e9 b"})", buffer, text));
  CHECK(text == "é b");
  CHECK_FALSE(frame.match(R"({"event":"text","data":1})", buffer, text));
  CHECK_FALSE(frame.match(R"({"event":"text","data":"a","data":"b"})", buffer, text));
  CHECK_FALSE(frame.match(R"({"event":"done","data":"a"})", buffer, text));
  CHECK_FALSE(frame.match(R"({"event":"text","data":"a"}})", buffer, text));
  CHECK_FALSE(frame.match(R"({"event":"text","data":})", buffer, text));
}

TEST_CASE("scan_string_token reads a string at the start of any text to where scan_string_document reads it") {
  const std::string token = R"("a\"b\\c\/\u00e9\ud83e\udd8a \u4E2D\n\u0041\u0062")";
  std::string characters = "\"\\u0aAdD8fF \tn\x01\xC3\xA9\xFF";
  characters.push_back('\0');
  std::vector<std::string> strings = {token, "\"\"", "\"plain\"", "\"\xD0\x9F\xD1\x80\"", "\"\\udc00\"", "\"\\\\\""};
  add_one_byte_mutations(token, characters, strings);
  std::string document_buffer, token_buffer;
  for (const std::string &json : strings) {
    std::string_view expected;
    const bool whole = scan_string_document(json, document_buffer, expected);
    // Whatever follows the string, even nothing, or text that would fail a document, changes nothing.
    // The document's whitespace aside, it is one string exactly when the token ends where the document does.
    const size_t start = json.find_first_not_of(" \t\r\n");
    if (start == std::string::npos) continue;
    const size_t stop = json.find_last_not_of(" \t\r\n") + 1;
    for (const std::string tail : {"", "\n", ",\"x\":1}\r\n", "\"", "\\"}) {
      const std::string text_with_tail = json.substr(0, stop) + tail;
      INFO(json << " followed by " << tail);
      std::string_view text;
      const char *const begin = text_with_tail.data();
      const char *const end = scan_string_token(begin + start, begin + text_with_tail.size(), token_buffer, text);
      if (whole) {
        REQUIRE(end == begin + stop);
        REQUIRE(text == expected);
      } else {
        REQUIRE(end != begin + stop);
      }
    }
  }
}

TEST_CASE("scan_string_token finds the end of a plain run as a byte-by-byte reading does, at any offset") {
  std::mt19937 random(7);
  const std::string alphabet = std::string("abc \x7f\x80\xC3\xA9\xFF\x1f\"\\", 13) + std::string(1, '\0');
  std::string buffer;
  for (int round = 0; round < 3000; ++round) {
    // A string's body of random bytes, closed by a quote: at every length around the eight-byte steps.
    std::string body;
    const size_t length = random() % 40;
    for (size_t i = 0; i < length; ++i) body += alphabet[random() % alphabet.size()];
    const std::string json = "\"" + body + "\"";
    size_t special = 0;
    while (special < body.size() && body[special] != '"' && body[special] != '\\' &&
           static_cast<unsigned char>(body[special]) >= 0x20)
      ++special;
    INFO("round " << round);
    std::string_view text;
    const char *end = scan_string_token(json.data(), json.data() + json.size(), buffer, text);
    if (special == body.size()) {  // no escape, no control character: the whole body is the text, if UTF-8
      const bool utf8 = provhost::is_utf8(body);
      REQUIRE((end != nullptr) == utf8);
      if (utf8) REQUIRE(text == body);
    } else if (body[special] == '"') {  // the string closes there
      const bool utf8 = provhost::is_utf8(body.substr(0, special));
      REQUIRE((end == json.data() + special + 2) == utf8);
    }
  }
}

TEST_CASE("parse_hex4 reads four hex digits exactly as a digit-by-digit reading does") {
  // A plain rendering: each byte's value as a hex digit, or -1 for the whole when any is not one.
  const auto reference = [](const char *hex) {
    long value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = hex[i];
      const long digit = c >= '0' && c <= '9'   ? c - '0'
                         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                : -1;
      if (digit < 0) return -1L;
      value = value << 4 | digit;
    }
    return value;
  };
  const std::string digits = std::string("0189aAfFgG/:@`\xFF ", 17) + std::string(1, '\0');
  char hex[4];
  for (char a : digits)
    for (char b : digits)
      for (char c : digits)
        for (char d : digits) {
          hex[0] = a, hex[1] = b, hex[2] = c, hex[3] = d;
          REQUIRE(json_detail::parse_hex4(hex) == reference(hex));
        }
}

TEST_CASE("RepeatedFrame::match_line reads a line in the remembered frame up to its line end, and no other") {
  std::string buffer;
  std::string_view text;
  RepeatedFrame frame;
  CHECK(frame.match_line("{\"data\":\"a\"}\n", buffer, text) == 0);  // nothing remembered yet
  const std::string first = R"({"event":"text","data":"a"})";
  frame.remember(first, first.find("\"a\""), first.find("\"a\"") + 3);
  const std::string line = R"({"event":"text","data":"\u00e9 b"})";
  for (const std::string end : {"\n", "\r", "\r\n", "\ndata: more"}) {
    REQUIRE(frame.match_line(line + end, buffer, text) == line.size());
    CHECK(text == "é b");
  }
  CHECK(frame.match_line(line, buffer, text) == 0);                                        // its end not yet here
  CHECK(frame.match_line(line + " \n", buffer, text) == 0);                                // more on the line
  CHECK(frame.match_line("{\"event\":\"text\",\"data\":\"a\nb\"}\n", buffer, text) == 0);  // a line end in the text
  CHECK(frame.match_line(R"({"event":"text","data":1})"
                         "\n",
                         buffer, text) == 0);
  CHECK(frame.match_line(R"({"event":"done","data":"a"})"
                         "\n",
                         buffer, text) == 0);
  CHECK(frame.match_line(R"({"event":"text","data":"a","data":"b"})"
                         "\n",
                         buffer, text) == 0);
  CHECK(frame.match_line(R"({"event":"text","data": "a"})"
                         "\n",
                         buffer, text) == 0);  // match() would read it
  CHECK(frame.match_line("{\"event\":\"text\",\"data\":\"\xFF\"}\n", buffer, text) == 0);
  // A frame with a line end between its tokens (JSON allows one there) is matched whole only.
  const std::string two_lines = "{\"data\":\n\"a\"}";
  frame.remember(two_lines, two_lines.find("\"a\""), two_lines.find("\"a\"") + 3);
  CHECK(frame.match_line("{\"data\":\n\"b\"}\n", buffer, text) == 0);
  CHECK(frame.match("{\"data\":\n\"b\"}", buffer, text));
}

TEST_CASE("scan_string_token finds the one special byte of a long run at any place of a sixteen-byte block") {
  // Plain bytes (ASCII, DEL, whole and broken UTF-8) up to one quote, backslash or control character, with more of
  // the line after it, so that the run is searched a block at a time and at its tail alike.
  std::mt19937 random(16);
  const std::vector<std::string> plain = {"a", "Z", " ", "\x7f", "\xC3\xA9", "\xE4\xB8\x96", "\xFF"};
  const std::string specials = std::string("\"\\\x1f\n", 4) + std::string(1, '\0');
  std::string buffer;
  for (int round = 0; round < 4000; ++round) {
    std::string body;
    const size_t length = random() % 70;
    while (body.size() < length) body += plain[random() % (round % 3 ? plain.size() - 1 : plain.size())];
    const char special = specials[random() % specials.size()];
    const std::string json = "\"" + body + special + std::string(random() % 40, 'x') + "\"}";
    INFO("round " << round << ", special " << int(special));
    std::string_view text;
    const char *end = scan_string_token(json.data(), json.data() + json.size(), buffer, text);
    const bool utf8 = provhost::is_utf8(body);
    if (special == '"') {
      REQUIRE((end == json.data() + body.size() + 2) == utf8);
      if (utf8) REQUIRE(text == body);
    } else if (special != '\\') {  // a control character: no string
      REQUIRE(end == nullptr);
    }
  }
}
