// The workers' seccomp program is compiled by libseccomp at build time (core/CMakeLists.txt,
// sandbox_filter_main.cpp), so that a worker neither loads libseccomp nor builds the filter at each
// start; what it installs must be what libseccomp makes of the rules (sandbox_rules.cpp) now.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "isolation/sandbox.hpp"
#include "sandbox_filter.inc"

namespace isolation = provhost::core::isolation;

TEST_CASE("the workers' built-in seccomp program is the rules as libseccomp compiles them") {
  const std::string compiled = isolation::compile_sandbox_filter(isolation::sandbox_filter_channel);
  REQUIRE(compiled.size() == sizeof isolation::sandbox_filter_program);
  CHECK(std::memcmp(compiled.data(), isolation::sandbox_filter_program, compiled.size()) == 0);
  // The channel is in the program: another descriptor compiles to another one.
  CHECK(isolation::compile_sandbox_filter(isolation::sandbox_filter_channel + 1) != compiled);
}

TEST_CASE("a worker whose channel is not the built-in program's is not sandboxed, and says why") {
  CHECK(isolation::enter_sandbox(isolation::sandbox_filter_channel + 1) ==
        "the sandbox is built for descriptor " + std::to_string(isolation::sandbox_filter_channel));
}
