#include <algorithm>
#include <cstdint>
#include <provhost/serve/ids.hpp>
#include <random>

namespace provhost::serve {

std::string random_token(std::size_t length) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 generator{std::random_device{}()};
  // Six bits of a draw per character, the two values past the alphabet thrown away (so every
  // character stays equally likely): one draw makes about ten characters, where a
  // uniform_int_distribution per character drew once each and cost most of a request's ids.
  std::string out(length, ' ');
  std::size_t filled = 0;
  while (filled < length) {
    for (std::uint64_t bits = generator(), left = 10; left > 0 && filled < length; --left, bits >>= 6) {
      if (const std::size_t index = bits & 63; index < alphabet.size()) out[filled++] = alphabet[index];
    }
  }
  return out;
}

std::string request_id_for(std::string_view given) {
  constexpr std::size_t longest = 128;
  const bool sane = !given.empty() && given.size() <= longest &&
                    std::all_of(given.begin(), given.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (sane) return std::string(given);
  return "req_" + random_token(24);
}

}  // namespace provhost::serve
