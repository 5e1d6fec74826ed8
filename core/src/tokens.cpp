#include <array>
#include <bit>
#include <cstring>
#include <provhost/core/chat.hpp>
#include <provhost/core/tokens.hpp>

namespace provhost::core {
namespace {

constexpr uint32_t letters_per_token = 8;

// The estimate is a small state machine over bytes: the state is how far into its current token a
// run of letters and digits is (0 to letters_per_token - 1; 0 also outside such a run, since a
// letter then starts a token either way). One table lookup per byte gives the next state and
// whether the byte starts a token, with no branch: every byte of every answer goes through here.
// An entry holds the next state already multiplied by 256, its row in the table, so that the next
// lookup needs no shift; the low bit says whether the byte starts a token.
constexpr uint16_t starts_token_bit = 1;
constexpr uint16_t row_mask = 0xFF00;

constexpr std::array<uint16_t, letters_per_token * 256> transitions = [] {
  std::array<uint16_t, letters_per_token * 256> table{};
  for (unsigned state = 0; state < letters_per_token; ++state) {
    for (unsigned c = 0; c < 256; ++c) {
      bool word = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
      bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
      bool continuation = (c & 0xC0) == 0x80;  // inside a non-ASCII character: changes nothing
      unsigned next = 0;
      bool starts = false;
      if (word) {
        starts = state == 0;
        next = (state + 1) % letters_per_token;
      } else if (continuation) {
        next = state;
      } else {
        starts = !space;  // punctuation, symbols and each non-ASCII character are a token each
      }
      table[state * 256 + c] = static_cast<uint16_t>(next << 8 | (starts ? starts_token_bit : 0));
    }
  }
  return table;
}();

// Eight bytes that all have their top bit set are parts of non-ASCII characters only: each lead byte
// (11xxxxxx) starts a token and ends any run of letters, continuation bytes (10xxxxxx) change nothing.
// Text in other scripts is mostly such words, counted here without a lookup per byte.
constexpr uint64_t top_bits = 0x8080808080808080u;

// The tokens of `text` with no limit; `row` is the state's row, updated.
uint64_t count_unlimited(std::string_view text, uint32_t &row) {
  const auto *at = reinterpret_cast<const unsigned char *>(text.data());
  const auto *const end = at + text.size();
  uint64_t tokens = 0;
  auto step = [&](unsigned char c) {
    const uint16_t entry = transitions[row + c];
    tokens += entry & starts_token_bit;
    row = entry & row_mask;
  };
  for (; end - at >= 8; at += 8) {
    uint64_t word;
    std::memcpy(&word, at, 8);
    if ((word & top_bits) == top_bits) {
      // Bit 7 of a byte of word << 1 is that byte's bit 6: set with bit 7 only in a lead byte.
      const uint64_t leads = word & (word << 1) & top_bits;
      tokens += static_cast<uint64_t>(std::popcount(leads));
      if (leads) row = 0;
      continue;
    }
    for (int i = 0; i < 8; ++i) step(at[i]);
  }
  for (; at != end; ++at) step(*at);
  return tokens;
}

}  // namespace

size_t TokenEstimator::feed(std::string_view text, uint64_t limit) {
  uint32_t row = word_state_ << 8;
  uint64_t tokens = tokens_;
  size_t counted = text.size();
  // Each byte starts at most one token: when the limit cannot be reached, no byte needs to check it.
  if (limit >= tokens && limit - tokens >= text.size()) {
    tokens += count_unlimited(text, row);
  } else {
    for (size_t i = 0; i < text.size(); ++i) {
      const uint16_t entry = transitions[row + static_cast<unsigned char>(text[i])];
      if ((entry & starts_token_bit) && tokens >= limit) {
        counted = i;  // this token is counted by the next call
        break;
      }
      tokens += entry & starts_token_bit;
      row = entry & row_mask;
    }
  }
  tokens_ = tokens;
  word_state_ = row >> 8;
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
