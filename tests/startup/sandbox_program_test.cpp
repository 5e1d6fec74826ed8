// The workers' seccomp program and the host's names of system calls are made with libseccomp at build
// time (core/CMakeLists.txt, sandbox_filter_main.cpp), so that no provhost process loads libseccomp;
// they must be what libseccomp makes of the rules (sandbox_rules.cpp) and the numbers now.
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

TEST_CASE("a blocked system call is named as libseccomp names it, without libseccomp") {
  CHECK(isolation::syscall_name(257) == "openat");  // x86-64's numbers: the build's machine
  CHECK(isolation::syscall_name(41) == "socket");
  for (int number = 0; number < 1024; ++number) {
    const std::string expected = isolation::libseccomp_syscall_name(number);
    INFO(number);
    CHECK(isolation::syscall_name(number) == (expected.empty() ? "system call " + std::to_string(number) : expected));
  }
  CHECK(isolation::syscall_name(-1) == "system call -1");
  CHECK(isolation::syscall_name(100000) == "system call 100000");
}
