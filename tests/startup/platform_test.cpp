// The platform layer's answers that start-up relies on (core/src/platform.hpp).
#include "platform.hpp"

#include <catch2/catch.hpp>
#include <filesystem>

namespace platform = provhost::core::platform;

TEST_CASE("the executable's path is /proc/self/exe's target, asked once and the same every time") {
  const std::optional<std::filesystem::path> first = platform::executable_path();
  REQUIRE(first);
  CHECK(*first == std::filesystem::read_symlink("/proc/self/exe"));
  CHECK(platform::executable_path() == first);
}
