// The C++ library is linked into the bundled plugins, the plugin worker and any plugin built with the
// SDK's provhost_add_plugin (sdk/cmake/ProvHostPlugin.cmake), so that no chat loads libstdc++.so; a
// plugin built with SHARED_CXX_RUNTIME loads it, and both kinds load and chat in either isolation mode.
#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <filesystem>
#include <provhost/bundled_providers.hpp>
#include <provhost/core/isolation.hpp>  // PROVHOST_SANITIZED_BUILD
#include <string>
#include <vector>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// What the dynamic loader said while `provhost <args>` chatted (LD_DEBUG=libs), the plugin worker's
// lines included: a worker writes to provhost's stderr.
ProcessResult chat_watching_libraries(const std::vector<std::string> &args) {
  std::vector<std::string> argv = {provhost_binary(), "--plugin-cache", "off"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult result = run_process(
      argv, "", 60s, {{"LD_DEBUG", "libs"}, {"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_EXAMPLE_API_KEY", "test-key"}});
  REQUIRE_FALSE(result.timed_out);
  // The loader's own lines are there: the checks of libstdc++.so below could have seen it.
  REQUIRE(result.err.find("calling init:") != std::string::npos);
  return result;
}

bool loaded_libstdcxx(const ProcessResult &result) { return result.err.find("libstdc++.so") != std::string::npos; }

#ifdef PROVHOST_SANITIZED_BUILD
constexpr bool sanitized = true;  // the sanitizer replaces the allocation functions of the shared library
#else
constexpr bool sanitized = false;
#endif

}  // namespace

TEST_CASE("a chat of each bundled provider loads no libstdc++.so, in either isolation mode") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  for (const auto &bundled : provhost::bundled::providers) {
    for (const char *isolation : {"process", "none"}) {
      INFO(bundled.name << " --isolation " << isolation);
      const std::string name(bundled.name);
      ProcessResult chat =
          chat_watching_libraries({"--plugin-dir", plugin_dir(), "--isolation", isolation, "--upstream",
                                   name + "=" + upstream.origin(), "chat", "-p", name, "Hello"});
      INFO(chat.err.substr(0, 2000));
      CHECK(chat.exit_code == 0);
      CHECK(chat.out == upstream.expected_text());
      CHECK(loaded_libstdcxx(chat) == sanitized);
    }
  }
}

TEST_CASE("a plugin built with provhost_add_plugin chats with the C++ library linked in or shared") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  struct Built {
    const char *folder;
    bool shared_runtime;
  };
  for (const Built &built :
       {Built{PROVHOST_STATIC_RUNTIME_PLUGIN_DIR, false}, Built{PROVHOST_SHARED_RUNTIME_PLUGIN_DIR, true}}) {
    for (const char *isolation : {"process", "none"}) {
      INFO(built.folder << " --isolation " << isolation);
      ProcessResult chat =
          chat_watching_libraries({"--plugin-dir", built.folder, "--isolation", isolation, "--upstream",
                                   "Example=" + upstream.origin(), "chat", "-p", "Example", "Hello"});
      INFO(chat.err.substr(0, 2000));
      CHECK(chat.exit_code == 0);
      CHECK(chat.out == upstream.expected_text());
      CHECK(loaded_libstdcxx(chat) == (built.shared_runtime || sanitized));
    }
  }
}

TEST_CASE("a plugin with its own C++ library that asks new for more than the memory limit ends its worker for it") {
  ProcessResult chat =
      run_process({provhost_binary(), "--plugin-cache", "off", "--plugin-dir", PROVHOST_ALLOC_PLUGIN_DIR, "--isolation",
                   "process", "chat", "-p", "CxxAlloc", "Hello"},
                  "", 60s, {{"PROVHOST_PLUGIN_PATH", ""}});
  REQUIRE_FALSE(chat.timed_out);
  CHECK(chat.exit_code == 3);
  CHECK(chat.out.empty());
  CHECK(chat.err == "provhost: CxxAlloc: the plugin went over its memory limit of 1 GiB (killed)\n");
}
