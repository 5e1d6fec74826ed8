#include <array>
#include <provhost/core/chat.hpp>
#include <provhost/core/tokens.hpp>

namespace provhost::core {
namespace {

constexpr uint32_t letters_per_token = 8;

// What each byte is to the estimate; a table, since every byte of every answer is looked at.
enum class ByteKind : uint8_t { word, space, continuation, other };

constexpr std::array<ByteKind, 256> byte_kinds = [] {
  std::array<ByteKind, 256> kinds{};
  for (unsigned c = 0; c < 256; ++c) {
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
      kinds[c] = ByteKind::word;
    else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
      kinds[c] = ByteKind::space;
    else if ((c & 0xC0) == 0x80)
      kinds[c] = ByteKind::continuation;
    else
      kinds[c] = ByteKind::other;
  }
  return kinds;
}();

}  // namespace

size_t TokenEstimator::feed(std::string_view text, uint64_t limit) {
  // Each byte starts at most one token: when the limit cannot be reached, no byte needs to check it.
  const bool unlimited = limit >= tokens_ && limit - tokens_ >= text.size();
  for (size_t i = 0; i < text.size(); ++i) {
    ByteKind kind = byte_kinds[static_cast<unsigned char>(text[i])];
    bool word = kind == ByteKind::word;
    bool starts_token = word ? word_length_ % letters_per_token == 0 : kind == ByteKind::other;
    if (!unlimited && starts_token && tokens_ >= limit) return i;  // this token is counted by the next call
    tokens_ += starts_token;
    word_length_ = word ? word_length_ + 1 : (kind == ByteKind::continuation ? word_length_ : 0);
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
