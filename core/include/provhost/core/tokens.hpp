// tokens.hpp: token counts without a tokenizer, for `usage` and `max_tokens` when the upstream
// reports none. The estimate follows how BPE tokenizers split text:
//   - a run of ASCII letters and digits is one token per 8 characters or part of them ("Hello" 1,
//     "internationalization" 3);
//   - every other visible ASCII character (punctuation, symbols) is one token;
//   - every non-ASCII character (é, 世, an emoji) is one token;
//   - whitespace is free (tokenizers fold it into the next word).
// For English prose it lands within about 25% of OpenAI's counts; it exists so that counts and
// limits mean the same on every provider, not to bill anybody.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace provhost::core {

struct Message;

class TokenEstimator {
 public:
  // Counts the tokens of `text`, which continues the text fed before (a word may span two calls).
  // Stops before the token that would make more than `limit` in all, and returns how many bytes
  // of `text` were counted: text.size() unless the limit was reached.
  size_t feed(std::string_view text, uint64_t limit = UINT64_MAX);
  uint64_t tokens() const { return tokens_; }

 private:
  uint64_t tokens_ = 0;
  uint32_t word_state_ = 0;  // letters and digits since the last other character, modulo a token
};

uint64_t estimate_tokens(std::string_view text);

// A conversation as the prompt of a request: each message's content, plus 3 tokens per message
// for its role and framing and 3 for the reply's start, as OpenAI counts chat prompts.
uint64_t estimate_prompt_tokens(const std::vector<Message> &messages);

}  // namespace provhost::core
