#include <provhost/core/chat.hpp>
#include <provhost/core/tokens.hpp>

namespace provhost::core {
namespace {

constexpr uint32_t letters_per_token = 8;

bool is_word_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_continuation_byte(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

size_t TokenEstimator::feed(std::string_view text, uint64_t limit) {
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    bool starts_token;
    if (is_word_byte(c)) {
      starts_token = word_length_ % letters_per_token == 0;
      ++word_length_;
    } else {
      starts_token = !is_space(c) && !is_continuation_byte(c);
      if (!is_continuation_byte(c)) word_length_ = 0;
    }
    if (!starts_token) continue;
    if (tokens_ >= limit) {
      if (is_word_byte(c)) --word_length_;  // not counted: the next call starts this token again
      return i;
    }
    ++tokens_;
  }
  return text.size();
}

uint64_t estimate_tokens(std::string_view text) {
  TokenEstimator estimator;
  estimator.feed(text);
  return estimator.tokens();
}

uint64_t estimate_prompt_tokens(const std::vector<Message> &messages) {
  constexpr uint64_t per_message = 3, reply_start = 3;
  uint64_t tokens = reply_start;
  for (const Message &message : messages) tokens += per_message + estimate_tokens(message.content);
  return tokens;
}

}  // namespace provhost::core
