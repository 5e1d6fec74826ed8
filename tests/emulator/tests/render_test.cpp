// The pure parts: tokenizing, rendering each answer shape, framing into writes, form decoding.
#include "render.hpp"

#include <catch2/catch.hpp>

#include "client.hpp"

using namespace provhost::emulator;
using namespace provhost::emulator::detail;
using provhost::emulator::test::decode;

namespace {

bool is_continuation(char byte) { return (static_cast<unsigned char>(byte) & 0xC0) == 0x80; }

}  // namespace

TEST_CASE("the default text holds what trips careless clients", "[emulator]") {
  const std::string text = default_text();
  CHECK(is_valid_utf8(text));
  for (std::string_view needle :
       {"Привет", "你好", "🦊", "\"", "\\", "\n", "\t", "data: [DONE]", "{\"event\":\"text\"}"})
    CHECK(text.find(needle) != std::string::npos);
}

TEST_CASE("is_valid_utf8 rejects broken sequences", "[emulator]") {
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("\xF0\x9F\xA6\x8A"));    // U+1F98A
  CHECK_FALSE(is_valid_utf8("\xF0\x9F\xA6"));  // cut short
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));      // overlong "/"
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));  // a UTF-16 surrogate
  CHECK_FALSE(is_valid_utf8("caf\xE9"));       // Latin-1
}

TEST_CASE("tokenize cuts at character boundaries within the byte budget", "[emulator]") {
  const std::string text = default_text();
  for (std::size_t chunk_size : {1u, 2u, 3u, 6u, 10u}) {
    const auto pieces = tokenize(text, chunk_size);
    std::string joined;
    for (const auto &piece : pieces) {
      REQUIRE_FALSE(piece.empty());
      CHECK(is_valid_utf8(piece));
      CHECK_FALSE(is_continuation(piece.front()));
      // Only a single character longer than the budget may exceed it.
      if (piece.size() > chunk_size) CHECK(tokenize(piece, 1).size() == 1);
      joined += piece;
    }
    CHECK(joined == text);
  }
  CHECK(tokenize(text, 0) == std::vector<std::string>{text});
  CHECK(tokenize("", 4).empty());
}

TEST_CASE("chunks repeats the tokens to make that many events", "[emulator]") {
  const Tokens once(tokenize("abcdef", 2), 0);
  CHECK(once.events == 3);
  CHECK(once.text() == "abcdef");
  const Tokens repeated(tokenize("abcdef", 2), 7);
  CHECK(repeated.events == 7);
  CHECK(repeated.text() == "abcdefabcdefab");
  const Tokens fewer(tokenize("abcdef", 2), 2);
  CHECK(fewer.text() == "abcd");
}

TEST_CASE("every answer decodes to the tokens' text", "[emulator]") {
  const Tokens tokens(tokenize(default_text(), 5), 0);
  CHECK(decode("koala", render_body(Answer::koala, Shape::whole, tokens)).text == tokens.text());
  CHECK(decode("ylokh", render_body(Answer::ylokh_stream, Shape::whole, tokens)).text == tokens.text());
  CHECK(decode("ylokh", render_body(Answer::ylokh_json, Shape::whole, tokens), false).text == tokens.text());
  CHECK(decode("chatgptfree", render_body(Answer::chatgptfree_sse, Shape::whole, tokens)).text == tokens.text());
  CHECK(decode("chatgptfree", render_body(Answer::chatgptfree_json, Shape::whole, tokens)).text == tokens.text());
  CHECK(decode("freenetfly", render_body(Answer::freenetfly, Shape::whole, tokens)).text == tokens.text());
  CHECK(decode("flowgpt", render_body(Answer::flowgpt, Shape::whole, tokens)).text == tokens.text());
}

TEST_CASE("Koala escapes non-ASCII as a Python server would", "[emulator]") {
  const Tokens tokens(tokenize("🦊", 4), 0);
  const std::string body = render_body(Answer::koala, Shape::whole, tokens);
  CHECK(body.find(R"(data: "\uD83E\uDD8A")") != std::string::npos);
}

TEST_CASE("a truncated answer carries the first half and no terminator", "[emulator]") {
  const Tokens tokens(tokenize(default_text(), 4), 0);
  const std::string half = tokens.joined(0, tokens.events / 2);
  for (auto answer : {Answer::ylokh_stream, Answer::chatgptfree_sse, Answer::freenetfly}) {
    const std::string body = render_body(answer, Shape::truncated, tokens);
    CHECK(body.find("[DONE]\n") == std::string::npos);
    CHECK(decode(answer == Answer::chatgptfree_sse ? "chatgptfree" : "ylokh", body).text == half);
  }
  CHECK(decode("koala", render_body(Answer::koala, Shape::truncated, tokens)).text == half);
  const auto flowgpt = decode("flowgpt", render_body(Answer::flowgpt, Shape::truncated, tokens));
  CHECK(flowgpt.text == half);
  CHECK_FALSE(flowgpt.terminated);
  CHECK(decode("ylokh", render_body(Answer::ylokh_json, Shape::truncated, tokens), false).undecodable == 1);
}

TEST_CASE("a malformed answer has one undecodable record and all of the text", "[emulator]") {
  const Tokens tokens(tokenize(default_text(), 4), 0);
  struct Case {
    Answer answer;
    const char *route;
  };
  for (auto [answer, route] :
       {Case{Answer::koala, "koala"}, Case{Answer::ylokh_stream, "ylokh"}, Case{Answer::chatgptfree_sse, "chatgptfree"},
        Case{Answer::freenetfly, "freenetfly"}, Case{Answer::flowgpt, "flowgpt"}}) {
    INFO(route);
    const auto decoded = decode(route, render_body(answer, Shape::malformed, tokens));
    CHECK(decoded.undecodable == 1);
    CHECK(decoded.text == tokens.text());
  }
  CHECK(decode("ylokh", render_body(Answer::ylokh_json, Shape::malformed, tokens), false).undecodable == 1);
  CHECK(decode("chatgptfree", render_body(Answer::chatgptfree_json, Shape::malformed, tokens)).undecodable == 1);
}

TEST_CASE("frame splits the body into small chunks, each one write", "[emulator]") {
  const std::string body = default_text();
  const Wire wire = frame(Head{200, {{"Content-Type", "text/plain"}}}, body, true, 0);
  const auto parsed = provhost::emulator::test::parse_chunked(wire.bytes);
  CHECK(parsed.terminated);
  CHECK(parsed.body == body);
  CHECK(parsed.head.starts_with("HTTP/1.1 200 OK\r\n"));
  // One write for the head, one per chunk, one for the last chunk.
  CHECK(wire.write_ends.size() == parsed.chunks.size() + 2);
  CHECK(wire.write_ends.back() == wire.bytes.size());
  for (const auto &chunk : parsed.chunks) {
    CHECK(chunk.size() >= 1);
    CHECK(chunk.size() <= 7);
  }
  // The same writes every time, so a failure can be replayed.
  CHECK(frame(Head{200, {{"Content-Type", "text/plain"}}}, body, true, 0).write_ends == wire.write_ends);
}

TEST_CASE("frame with a write size uses pieces that large", "[emulator]") {
  const std::string body(10000, 'x');
  const auto parsed = provhost::emulator::test::parse_chunked(frame(Head{}, body, true, 4096).bytes);
  REQUIRE(parsed.chunks.size() == 3);
  CHECK(parsed.chunks[0].size() == 4096);
  CHECK(parsed.chunks[2].size() == 10000 - 2 * 4096);
  const Wire sized = frame(Head{}, body, false, 0);
  CHECK(sized.bytes.find("Content-Length: 10000\r\n") != std::string::npos);
  CHECK(sized.bytes.substr(sized.body_begin) == body);
  CHECK(sized.write_ends.size() > body.size() / 7);
}

TEST_CASE("form fields are percent-decoded", "[emulator]") {
  const std::string form = "_wpnonce=ab12&message=Hello+w%C3%B6rld%21&url=https%3A%2F%2Fchatgptfree.ai&empty=&bad=%zz";
  CHECK(form_field(form, "_wpnonce") == "ab12");
  CHECK(form_field(form, "message") == "Hello wörld!");
  CHECK(form_field(form, "url") == "https://chatgptfree.ai");
  CHECK(form_field(form, "empty") == "");
  CHECK(form_field(form, "bad") == "%zz");
  CHECK_FALSE(form_field(form, "missing").has_value());
}
