// plugins/common: the shared helpers, tested directly where the plugins' tests cannot reach every case.
#include <catch2/catch.hpp>
#include <provhost/openai/json.hpp>
#include <provhost/openai/openai_chunks.hpp>

#include "plugin_driver.hpp"

using namespace provhost::openai;

TEST_CASE("excerpt keeps short text, and cuts long text on a character boundary") {
  CHECK(excerpt("short") == "short");
  const std::string emoji = "🦊🦊🦊";  // 4 bytes each
  CHECK(excerpt(emoji, 6) == "🦊...");
  CHECK(excerpt(emoji, 8) == "🦊🦊...");
  CHECK(excerpt(emoji, 12) == emoji);
}

TEST_CASE("excerpt shows undecodable bytes as '?', so a warning is always UTF-8") {
  const std::string bad = std::string("ok \xC3\x28 and \xFF end");
  std::string shown = excerpt(bad);
  CHECK(provhost::is_utf8(shown));
  CHECK(shown == "ok ?( and ? end");
}

TEST_CASE("parse_json survives nesting a million deep: cut short, not a crash") {
  // An upstream's answer is hostile bytes; a recursive parser would exhaust the stack here.
  const std::string deep(1'000'000, '[');
  rapidjson::Document document;
  REQUIRE_FALSE(parse_json(deep, document));
  CHECK(ended_early(document, deep));
  const std::string closed = deep + std::string(1'000'000, ']');
  CHECK(parse_json(closed, document));
}

TEST_CASE("parse_json refuses bytes that are not UTF-8 wherever they are, and reads every script and escape") {
  // Text that is UTF-8 as a whole skips RapidJSON's per-byte check; other text must still be refused as
  // RapidJSON refuses it, with its error and offset.
  rapidjson::Document document;
  REQUIRE_FALSE(parse_json("{\"data\": \"ab\xC3(\"}", document));
  CHECK(document.GetParseError() == rapidjson::kParseErrorStringInvalidEncoding);
  CHECK(document.GetErrorOffset() == 12);
  REQUIRE_FALSE(parse_json("{\"d\xFF\": 1}", document));
  CHECK(document.GetParseError() == rapidjson::kParseErrorStringInvalidEncoding);
  REQUIRE_FALSE(parse_json("[1, \xE4\xBD\xA0]", document));  // a character where no string is
  CHECK(document.GetParseError() == rapidjson::kParseErrorValueInvalid);
  REQUIRE(
      parse_json("{\"data\": \"\xD0\x9F\xD1\x80\xD0\xB8 \xE4\xBD\xA0 \xF0\x9F\xA6\x8A \\u00e9\\ud83d\\ude80 \\udc00\"}",
                 document));
  CHECK(as_view(document["data"]) ==
        "\xD0\x9F\xD1\x80\xD0\xB8 \xE4\xBD\xA0 \xF0\x9F\xA6\x8A \xC3\xA9\xF0\x9F\x9A\x80 \xEF\xBF\xBD");
}

TEST_CASE("ended_early tells a document cut short from garbage") {
  auto cut_short = [](const std::string &text) {
    rapidjson::Document document;
    REQUIRE_FALSE(parse_json(text, document));
    return ended_early(document, text);
  };
  CHECK(cut_short(R"({"data": "Hel)"));
  CHECK(cut_short("{\"data\": \"Привет\xD0"));  // inside a 2-byte character
  CHECK(cut_short("{\"a\": tr\n"));
  CHECK(cut_short("[1, 2,  "));
  CHECK_FALSE(cut_short(R"({"data": "a\q"})"));
  CHECK_FALSE(cut_short(R"({"a": 1} trailing)"));
  CHECK_FALSE(cut_short("<html>"));
  CHECK_FALSE(cut_short("   "));
}

TEST_CASE("error_message finds the reason of an error object") {
  rapidjson::Document document;
  REQUIRE(parse_json(R"({"error": {"message": "quota", "code": 429}})", document));
  CHECK(error_message(document) == "quota");
  REQUIRE(parse_json(R"({"error": "plain"})", document));
  CHECK(error_message(document) == "plain");
  REQUIRE(parse_json(R"({"error": {"code": 7}})", document));
  CHECK(error_message(document) == R"({"code":7})");
  for (const char *not_an_error : {R"({"error": null})", R"({"error": false})", R"({"choices": []})", R"("text")"}) {
    REQUIRE(parse_json(not_an_error, document));
    CHECK_FALSE(error_message(document));
  }
}

TEST_CASE("DeltaChunkReader sorts chunks into text, unexpected and undecodable") {
  DeltaChunkReader reader;
  auto kind = [&](const std::string &json) { return reader.read(json).kind; };
  CHECK(reader.read(R"({"choices":[{"delta":{"content":"hi"}}]})").text == "hi");
  CHECK(kind(R"({"choices":[{"delta":{"role":"assistant"}}]})") == ChunkText::Kind::text);
  CHECK(kind(R"({"choices":[{"delta":{"content":null}}]})") == ChunkText::Kind::text);
  CHECK(kind(R"({"choices":[],"usage":{"total_tokens":3}})") == ChunkText::Kind::text);
  CHECK(kind(R"({"object":"chat.completion.chunk"})") == ChunkText::Kind::unexpected);
  CHECK(kind(R"({"choices":[{"message":{"content":"x"}}]})") == ChunkText::Kind::unexpected);
  CHECK(kind(R"([1])") == ChunkText::Kind::unexpected);
  CHECK(kind(R"({"choices":[{"delta":)") == ChunkText::Kind::undecodable);
  CHECK(kind("{\"choices\":[{\"delta\":{\"content\":\"\xFF\"}}]}") == ChunkText::Kind::undecodable);
  CHECK_THROWS_AS(reader.read(R"({"error":{"message":"busy"}})"), provhost::ProviderError);
}

TEST_CASE("to_json refuses text that is not UTF-8 instead of sending broken JSON") {
  rapidjson::Document document(rapidjson::kObjectType);
  document.AddMember("ok", json_string("Привет 🙂", document.GetAllocator()), document.GetAllocator());
  CHECK(to_json(document) == "{\"ok\":\"Привет 🙂\"}");
  document.AddMember("bad", json_string("\xC3\x28", document.GetAllocator()), document.GetAllocator());
  CHECK_THROWS_AS(to_json(document), provhost::ProviderError);
}
