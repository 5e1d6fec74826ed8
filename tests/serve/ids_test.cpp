// The random identifiers serve hands out.
#include <catch2/catch.hpp>
#include <map>
#include <provhost/serve/ids.hpp>
#include <string_view>

using provhost::serve::random_token;
using provhost::serve::request_id_for;

TEST_CASE("a random token has the asked length, every character from [A-Za-z0-9]") {
  for (size_t length : {0, 1, 9, 10, 11, 24, 100}) {
    std::string token = random_token(length);
    CHECK(token.size() == length);
    for (char c : token)
      CHECK(std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").find(c) !=
            std::string_view::npos);
  }
}

TEST_CASE("every character of the alphabet is about equally likely in a random token") {
  // 62,000 characters: about 1,000 of each, with a standard deviation near 31. A bound 15 deviations
  // away fails only when a character is favoured or never drawn (a bias of the bits taken per draw).
  std::map<char, int> counts;
  for (int i = 0; i < 2000; ++i)
    for (char c : random_token(31)) ++counts[c];
  CHECK(counts.size() == 62);
  for (const auto &[c, count] : counts) {
    INFO("character " << c);
    CHECK(count > 535);
    CHECK(count < 1465);
  }
}

TEST_CASE("two random tokens differ") { CHECK(random_token(24) != random_token(24)); }

TEST_CASE("a request id is the client's when it is a sane token, else a fresh one") {
  CHECK(request_id_for("abc-123") == "abc-123");
  std::string fresh = request_id_for("has space");
  CHECK(fresh.rfind("req_", 0) == 0);
  CHECK(fresh.size() == 4 + 24);
  CHECK(request_id_for("").rfind("req_", 0) == 0);
  CHECK(request_id_for(std::string(129, 'a')).rfind("req_", 0) == 0);
}
