#include <array>
#include <provhost/core/chat.hpp>
#include <provhost/core/tokens.hpp>

namespace provhost::core {
namespace {

constexpr uint32_t letters_per_token = 8;

// The estimate is a small state machine over bytes: the state is how far into its current token a
// run of letters and digits is (0 to letters_per_token - 1; 0 also outside such a run, since a
// letter then starts a token either way). One table lookup per byte gives the next state and
// whether the byte starts a token, with no branch: every byte of every answer goes through here.
constexpr unsigned starts_token_shift = 3;
constexpr uint8_t starts_token_bit = 1 << starts_token_shift;
constexpr uint8_t state_mask = 0x7;
static_assert(letters_per_token - 1 <= state_mask);

constexpr std::array<uint8_t, letters_per_token * 256> transitions = [] {
  std::array<uint8_t, letters_per_token * 256> table{};
  for (unsigned state = 0; state < letters_per_token; ++state) {
    for (unsigned c = 0; c < 256; ++c) {
      bool word = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
      bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
      bool continuation = (c & 0xC0) == 0x80;  // inside a non-ASCII character: changes nothing
      uint8_t next = 0;
      bool starts = false;
      if (word) {
        starts = state == 0;
        next = static_cast<uint8_t>((state + 1) % letters_per_token);
      } else if (continuation) {
        next = static_cast<uint8_t>(state);
      } else {
        starts = !space;  // punctuation, symbols and each non-ASCII character are a token each
      }
      table[state * 256 + c] = static_cast<uint8_t>(next | (starts ? starts_token_bit : 0));
    }
  }
  return table;
}();

}  // namespace

size_t TokenEstimator::feed(std::string_view text, uint64_t limit) {
  uint32_t state = word_state_;
  uint64_t tokens = tokens_;
  size_t counted = text.size();
  // Each byte starts at most one token: when the limit cannot be reached, no byte needs to check it.
  if (limit >= tokens && limit - tokens >= text.size()) {
    for (unsigned char c : text) {
      uint8_t step = transitions[state * 256 + c];
      tokens += step >> starts_token_shift;
      state = step & state_mask;
    }
  } else {
    for (size_t i = 0; i < text.size(); ++i) {
      uint8_t step = transitions[state * 256 + static_cast<unsigned char>(text[i])];
      if ((step & starts_token_bit) && tokens >= limit) {
        counted = i;  // this token is counted by the next call
        break;
      }
      tokens += step >> starts_token_shift;
      state = step & state_mask;
    }
  }
  tokens_ = tokens;
  word_state_ = state;
  return counted;
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
