#include <algorithm>
#include <provhost/serve/ids.hpp>
#include <random>

namespace provhost::serve {

std::string random_token(std::size_t length) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::string out(length, ' ');
  for (auto &c : out) c = alphabet[pick(generator)];
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
