// provhost::Host's wrappers over the host services, random_string above all: the alphabet, the length and
// a uniform draw (no modulo bias) from whatever bytes the host supplies.
#include <catch2/catch.hpp>
#include <map>
#include <provhost/provider.hpp>
#include <stdexcept>
#include <string>

namespace {

// A host whose "random" bytes are a script: `pattern` repeated forever.
struct ScriptedHost {
  ph_host table{};
  std::string pattern;
  size_t next = 0;

  explicit ScriptedHost(std::string bytes) : pattern(std::move(bytes)) {
    table.struct_size = sizeof table;
    table.host_data = this;
    table.random_bytes = [](const ph_host *host, void *buffer, size_t size) {
      auto *self = static_cast<ScriptedHost *>(host->host_data);
      auto *out = static_cast<char *>(buffer);
      for (size_t i = 0; i < size; ++i) out[i] = self->pattern[self->next++ % self->pattern.size()];
    };
  }
};

std::string every_byte_once() {
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  return bytes;
}

}  // namespace

TEST_CASE("random_string returns `length` characters, all from the alphabet") {
  std::string all_bytes = every_byte_once();
  for (const std::string &alphabet : {std::string("a"), std::string("ab"), std::string("0123456789abcdef"),
                                      std::string("abcdefghijklmnopqrstuvwxyz0123456789"), all_bytes}) {
    ScriptedHost scripted(every_byte_once());
    provhost::Host host(&scripted.table);
    INFO("alphabet of " << alphabet.size());
    CHECK(host.random_string(alphabet, 0).empty());
    for (size_t length : {1u, 19u, 20u, 32u, 1000u}) {
      std::string drawn = host.random_string(alphabet, length);
      CHECK(drawn.size() == length);
      CHECK(drawn.find_first_not_of(alphabet) == std::string::npos);
    }
  }
}

TEST_CASE("random_string draws every character equally often from evenly spread bytes") {
  // Four rounds of the 256 byte values: a 36-character alphabet takes the 252 bytes below 252 each round
  // (7 per character) and must reject 252..255, which would otherwise favour the first 4 characters.
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  ScriptedHost scripted(every_byte_once());
  std::string drawn = provhost::Host(&scripted.table).random_string(alphabet, 4 * 252);
  std::map<char, int> counts;
  for (char c : drawn) ++counts[c];
  CHECK(counts.size() == alphabet.size());
  for (const auto &[c, count] : counts) {
    INFO(c);
    CHECK(count == 4 * 7);
  }
}

TEST_CASE("random_string never uses a byte from the biased tail") {
  // 255 % 36 would be 'd'; only the zero bytes may be used, giving 'a'.
  ScriptedHost scripted(std::string("\xff\xfe\xfd\xfc\x00", 5));
  CHECK(provhost::Host(&scripted.table).random_string("abcdefghijklmnopqrstuvwxyz0123456789", 50) ==
        std::string(50, 'a'));
}

TEST_CASE("random_string refuses an alphabet it cannot draw from, instead of hanging") {
  ScriptedHost scripted(every_byte_once());
  provhost::Host host(&scripted.table);
  CHECK_THROWS_AS(host.random_string("", 3), std::invalid_argument);
  CHECK_THROWS_AS(host.random_string(std::string(257, 'x'), 3), std::invalid_argument);
}

TEST_CASE("Without a host, the services answer neutrally") {
  provhost::Host host;
  CHECK(host.now_unix_ms() == 0);
  CHECK(host.digest_hex("md5", "x").empty());
  CHECK(host.config("key").empty());
  CHECK(host.random_string("xyz", 4) == "xxxx");
}
