// The tokenizer-free estimate of tokens.hpp, and its limit, which max_tokens relies on.
#include <catch2/catch.hpp>
#include <provhost/core/chat.hpp>
#include <provhost/core/tokens.hpp>
#include <string>

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
