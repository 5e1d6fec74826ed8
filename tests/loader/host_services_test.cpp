// The services table every plugin gets.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <provhost/core/host_services.hpp>

using namespace provhost::core;

namespace {
ph_str s(std::string_view text) { return ph_str{text.data(), text.size()}; }

std::string hex(const uint8_t *bytes, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 15]);
  }
  return out;
}
}  // namespace

TEST_CASE("the table is complete and names the host") {
  HostServices services("Example");
  const ph_host *host = services.table();
  CHECK(host->struct_size == sizeof(ph_host));
  CHECK(host->log);
  CHECK(host->now_unix_ms);
  CHECK(host->random_bytes);
  CHECK(host->get_config);
  CHECK(host->digest);
  CHECK(std::string_view(host->host_name.data, host->host_name.size) == "provhost");
}

std::shared_ptr<const HostSettings> with_values(std::map<std::string, std::string, std::less<>> values) {
  auto settings = std::make_shared<HostSettings>();
  settings->provider_config = std::move(values);
  return settings;
}

TEST_CASE("configuration values are the settings' PROVHOST_<PROVIDER>_<KEY> entries") {
  CHECK(config_variable("FreeNetfly", "api-key") == "PROVHOST_FREENETFLY_API_KEY");
  HostServices services("My-Provider",
                        with_values({{"PROVHOST_MY_PROVIDER_TOKEN", "secret"}, {"PROVHOST_MY_PROVIDER_EMPTY", ""}}));
  const ph_host *host = services.table();
  ph_str token = host->get_config(host, s("token"));
  CHECK(std::string_view(token.data, token.size) == "secret");
  // The answer stays valid until unload, so a later lookup gives the same storage.
  CHECK(host->get_config(host, s("token")).data == token.data);
  for (const char *absent : {"missing", "empty"}) {
    ph_str missing = host->get_config(host, s(absent));
    CHECK(missing.data == nullptr);
    CHECK(missing.size == 0);
  }
}

TEST_CASE("core reads no configuration value from the environment") {
  setenv("PROVHOST_EXAMPLE_TOKEN", "from-env", 1);
  HostServices services("Example");
  ph_str value = services.table()->get_config(services.table(), s("token"));
  CHECK(value.data == nullptr);
  unsetenv("PROVHOST_EXAMPLE_TOKEN");
}

TEST_CASE("the provider's name, once known, is the configuration prefix") {
  HostServices services("provhost-file", with_values({{"PROVHOST_NAMED_KEY", "v"}}));
  services.set_provider_name("Named");
  ph_str value = services.table()->get_config(services.table(), s("key"));
  CHECK(std::string_view(value.data, value.size) == "v");
}

TEST_CASE("digests are the standard ones, unknown algorithms give nothing") {
  HostServices services("Example");
  const ph_host *host = services.table();
  uint8_t out[PH_MAX_DIGEST_SIZE];
  // Test vectors from RFC 1321 and FIPS 180.
  CHECK(hex(out, host->digest(host, s("md5"), s("abc"), out)) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(hex(out, host->digest(host, s("sha1"), s("abc"), out)) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(out, host->digest(host, s("sha256"), s("abc"), out)) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(host->digest(host, s("sha3-512-not"), s("abc"), out) == 0);
}

TEST_CASE("random bytes differ from call to call") {
  HostServices services("Example");
  const ph_host *host = services.table();
  uint8_t a[32] = {}, b[32] = {};
  host->random_bytes(host, a, sizeof a);
  host->random_bytes(host, b, sizeof b);
  CHECK(std::memcmp(a, b, sizeof a) != 0);
}

TEST_CASE("the clock is the wall clock in milliseconds") {
  using namespace std::chrono;
  HostServices services("Example");
  auto before = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  int64_t now = services.table()->now_unix_ms(services.table());
  auto after = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  CHECK(now >= before);
  CHECK(now <= after);
}

TEST_CASE("log lines name the provider and the level, on one line") {
  CHECK(format_log_line("Ylokh", PH_LOG_WARNING, "odd event\nskipped") ==
        "provhost: [Ylokh] warning: odd event\\x0askipped\n");
  // A plugin cannot send the terminal an escape sequence, nor write bytes that are not UTF-8.
  CHECK(format_log_line("Ylokh", PH_LOG_INFO, "\x1b[31mred\xff \n") ==
        "provhost: [Ylokh] info: \\x1b[31mred\xEF\xBF\xBD\n");
  CHECK(format_log_line("Koala", PH_LOG_ERROR, "x") == "provhost: [Koala] error: x\n");
}

TEST_CASE("a message is shown from the settings' level up; an unknown level counts as an error") {
  CHECK(log_level_enabled(PH_LOG_WARNING, PH_LOG_INFO));
  CHECK(log_level_enabled(PH_LOG_INFO, PH_LOG_INFO));
  CHECK_FALSE(log_level_enabled(PH_LOG_DEBUG, PH_LOG_INFO));
  CHECK(log_level_enabled(PH_LOG_DEBUG, PH_LOG_DEBUG));
  CHECK_FALSE(log_level_enabled(PH_LOG_WARNING, PH_LOG_ERROR));
  CHECK(log_level_enabled(42, PH_LOG_ERROR));
  CHECK(log_level_enabled(-1, PH_LOG_ERROR));
}
