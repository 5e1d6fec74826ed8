#include <catch2/catch.hpp>
#include <provhost/core/plugin_loader.hpp>

using provhost::core::check_abi_answer;

namespace {
// What a plugin built against `built` answers a host that offers `offered` (the SDK's rule).
uint32_t plugin_answer(uint32_t offered, uint32_t built) { return ph_negotiate_version(offered, built); }
}  // namespace

TEST_CASE("a plugin built for an older minor is accepted at its own version") {
  const uint32_t offered = PH_MAKE_VERSION(1, 3), built = PH_MAKE_VERSION(1, 1);
  uint32_t answer = plugin_answer(offered, built);
  CHECK(answer == built);
  CHECK_FALSE(check_abi_answer(offered, answer));
}

TEST_CASE("a plugin built for a newer minor answers the host's minor and is accepted") {
  const uint32_t offered = PH_MAKE_VERSION(1, 0), built = PH_MAKE_VERSION(1, 2);
  uint32_t answer = plugin_answer(offered, built);
  CHECK(answer == offered);
  CHECK_FALSE(check_abi_answer(offered, answer));
}

TEST_CASE("a plugin of another major is rejected, naming both versions") {
  auto reason = check_abi_answer(PH_MAKE_VERSION(1, 0), PH_MAKE_VERSION(2, 0));
  REQUIRE(reason);
  CHECK(*reason == "plugin speaks ABI 2.0; this host speaks 1.x");
  CHECK(check_abi_answer(PH_MAKE_VERSION(1, 0), 0));
}

TEST_CASE("an answer newer than the version offered is rejected") {
  auto reason = check_abi_answer(PH_MAKE_VERSION(1, 0), PH_MAKE_VERSION(1, 1));
  REQUIRE(reason);
  CHECK_THAT(*reason, Catch::Contains("1.1") && Catch::Contains("newer than the 1.0"));
}

TEST_CASE("ABI versions print as major.minor") {
  CHECK(provhost::core::format_abi_version(PH_MAKE_VERSION(1, 12)) == "1.12");
  CHECK(provhost::core::format_abi_version(PH_ABI_VERSION) ==
        std::to_string(PH_ABI_VERSION_MAJOR) + "." + std::to_string(PH_ABI_VERSION_MINOR));
}
