// The tokenizer-free estimate of tokens.hpp, and its limit, which max_tokens relies on.
#include <catch2/catch.hpp>
#include <cctype>
#include <provhost/core/chat.hpp>
#include <provhost/core/tokens.hpp>
#include <random>
#include <string>
#include <vector>

using provhost::core::estimate_prompt_tokens;
using provhost::core::estimate_tokens;
using provhost::core::TokenEstimator;

TEST_CASE("tokens: words count one per 8 letters, punctuation and non-ASCII characters one each, spaces none") {
  CHECK(estimate_tokens("") == 0);
  CHECK(estimate_tokens("   \n\t") == 0);
  CHECK(estimate_tokens("Hello") == 1);
  CHECK(estimate_tokens("Hello! How can I help you today?") == 9);
  CHECK(estimate_tokens("internationalization") == 3);  // 20 letters
  CHECK(estimate_tokens("abcdefgh") == 1);
  CHECK(estimate_tokens("abcdefghi") == 2);
  CHECK(estimate_tokens("caf\xC3\xA9") == 2);               // "caf" + "é"
  CHECK(estimate_tokens("\xE4\xB8\x96\xE7\x95\x8C") == 2);  // two CJK characters
  CHECK(estimate_tokens("\xF0\x9F\x99\x82 ok") == 2);       // an emoji, then a word
  CHECK(estimate_tokens("a,b") == 3);
}

TEST_CASE("tokens: a word split across two pieces of text counts as if it came whole") {
  const std::string text = "internationalization and caf\xC3\xA9, twice: internationalization";
  for (size_t split = 0; split <= text.size(); ++split) {
    TokenEstimator estimator;
    estimator.feed(std::string_view(text).substr(0, split));
    estimator.feed(std::string_view(text).substr(split));
    INFO("split at " << split);
    CHECK(estimator.tokens() == estimate_tokens(text));
  }
}

TEST_CASE("tokens: a limit stops before the token that would exceed it, never inside a character") {
  TokenEstimator estimator;
  std::string_view text = "one two \xC3\xA9three";  // one, two, é, three
  CHECK(estimator.feed(text, 2) == 8);              // "one two ": the space before "é" is free
  CHECK(estimator.tokens() == 2);
  CHECK(estimator.feed(text.substr(8), 3) == 2);  // "é"
  CHECK(estimator.tokens() == 3);
  CHECK(estimator.feed(text.substr(10), 4) == 5);  // "three"
  CHECK(estimator.tokens() == 4);

  SECTION("a long word is cut at 8 letters, and counts on correctly after") {
    TokenEstimator word;
    CHECK(word.feed("abcdefghij", 1) == 8);
    CHECK(word.feed("ij", 2) == 2);
    CHECK(word.tokens() == 2);
  }
}

TEST_CASE("tokens: a prompt counts each message's content plus 3 per message and 3 for the reply") {
  std::vector<provhost::core::Message> messages = {{"system", "Be brief."}, {"user", "Hello"}};
  CHECK(estimate_prompt_tokens(messages) == 3 + (3 + 3) + (3 + 1));
  CHECK(estimate_prompt_tokens({}) == 3);
}

TEST_CASE("tokens: a limit the text reaches at most exactly counts it whole, as no limit does") {
  const std::string text = "Hello, w\xC3\xB6rld! 12345678901 \xE4\xB8\x96";
  const uint64_t all = estimate_tokens(text);
  REQUIRE(all == 9);  // Hello , w ö rld ! 12345678 901 世
  for (uint64_t limit = all; limit <= all + text.size() + 1; ++limit) {
    TokenEstimator estimator;
    INFO("limit " << limit);
    CHECK(estimator.feed(text, limit) == text.size());
    CHECK(estimator.tokens() == all);
  }
  TokenEstimator one_short;
  CHECK(one_short.feed(text, all - 1) == text.size() - 3);  // before "世"
  CHECK(one_short.tokens() == all - 1);
}

namespace {

// The rules of tokens.hpp written out as plainly as possible, to hold the table-driven estimate to.
// Returns the bytes counted before the token that would make more than `limit`.
size_t reference_feed(std::string_view text, uint64_t limit, uint64_t &tokens, uint64_t &word_letters) {
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    bool word = std::isalnum(c) && c < 0x80;
    bool space = c == ' ' || (c >= '\t' && c <= '\r');
    bool continuation = (c & 0xC0) == 0x80;
    bool starts = word ? word_letters % 8 == 0 : !space && !continuation;
    if (starts && tokens >= limit) return i;
    tokens += starts;
    if (word) {
      ++word_letters;
    } else if (!continuation) {
      word_letters = 0;
    }
  }
  return text.size();
}

// Feeds `text` in random pieces of 1 to `max_piece` bytes, each counted as reference_feed counts it.
void check_pieces_against_reference(const std::string &text, uint64_t limit, std::mt19937 &random, size_t max_piece) {
  TokenEstimator estimator;
  uint64_t expected_tokens = 0, word_letters = 0;
  for (size_t at = 0; at < text.size();) {
    std::string_view rest = std::string_view(text).substr(at, 1 + random() % max_piece);
    INFO("at " << at);
    size_t expected = reference_feed(rest, limit, expected_tokens, word_letters);
    REQUIRE(estimator.feed(rest, limit) == expected);
    REQUIRE(estimator.tokens() == expected_tokens);
    if (expected < rest.size()) break;
    at += rest.size();
  }
}

// 500 rounds of text drawn from `pieces`, up to `max_length` bytes, half of them under a limit below
// `max_limit`, each fed in random pieces of up to `max_piece` bytes and checked against the reference.
void check_random_texts(const std::vector<std::string> &pieces, std::mt19937::result_type seed, size_t max_length,
                        uint64_t max_limit, size_t max_piece) {
  std::mt19937 random(seed);
  for (int round = 0; round < 500; ++round) {
    std::string text;
    for (size_t length = random() % max_length; text.size() < length;) text += pieces[random() % pieces.size()];
    const uint64_t limit = round % 2 ? UINT64_MAX : random() % max_limit;
    INFO("round " << round << ", limit " << limit);
    check_pieces_against_reference(text, limit, random, max_piece);
  }
}

}  // namespace

TEST_CASE("tokens: random text in random pieces under random limits counts as the rules say") {
  // Single bytes, so that multi-byte characters come out whole, cut short and out of order.
  const std::string alphabet = std::string("abcXYZ019 \t\n.,!-") + "\xC3\xA9" + "\xE4\xB8\x96" + "\xF0\x9F\x99\x82";
  std::vector<std::string> bytes;
  for (char c : alphabet) bytes.emplace_back(1, c);
  check_random_texts(bytes, 20261203, 200, 60, 20);
}

TEST_CASE("tokens: text mostly in other scripts, in long pieces, counts as the rules say") {
  // Runs of two-, three- and four-byte characters long enough to fill eight-byte words, cut anywhere, between
  // letters, spaces and punctuation; bytes of characters cut short and stray continuation bytes too.
  const std::vector<std::string> pieces = {"\xD0\x9F\xD1\x80\xD0\xB8",
                                           "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C",
                                           "\xF0\x9F\xA6\x8A",
                                           "\x80\xBF\x80",
                                           "\xC3",
                                           "abcdefgh",
                                           "1",
                                           " ",
                                           "!"};
  check_random_texts(pieces, 8, 400, 200, 64);
}

TEST_CASE("tokens: every byte value, in any place of the eight bytes read at once, counts as the rules say") {
  // Each of the 256 bytes, and runs of letters of every length up to two tokens, so that runs start, end and
  // carry on at each position of an eight-byte word; fed in pieces long enough to hold several such words.
  std::vector<std::string> pieces;
  for (int c = 0; c < 256; ++c) pieces.emplace_back(1, static_cast<char>(c));
  for (size_t length = 1; length <= 17; ++length) pieces.push_back(std::string("aZ9yB8xC7wD6vE5uF").substr(0, length));
  pieces.insert(pieces.end(), {"\xD0\x9F", "\xE4\xBD\xA0", "\xF0\x9F\xA6\x8A", " ", "\t\n", "."});
  check_random_texts(pieces, 256, 600, 300, 120);
}
