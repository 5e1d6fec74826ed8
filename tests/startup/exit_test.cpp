// chat and serve end the process from the engine module once their output is written, without the
// exit handlers of the libraries it brought (host/engine_entry.cpp); a sanitized build exits as usual.
#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <provhost/core/isolation.hpp>
#include <string>

#include "support/process.hpp"

using namespace provhost::test;
using namespace std::chrono_literals;

namespace {

// Whether the dynamic loader ran libcrypto's finalisers, as LD_DEBUG=libs tells.
bool finalised_libcrypto(const std::string &loader_lines) {
  for (size_t at = loader_lines.find("calling fini:"); at != std::string::npos;
       at = loader_lines.find("calling fini:", at + 1)) {
    if (loader_lines.compare(loader_lines.find_last_of('/', loader_lines.find('\n', at)) + 1, 13, "libcrypto.so.") == 0)
      return true;
  }
  return false;
}

}  // namespace

TEST_CASE("chat writes its whole answer and exit code, and skips the libraries' exit handlers") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  for (const char *isolation : {"none", "process"}) {
    INFO(isolation);
    ProcessResult chat = run_process({provhost_binary(), "--isolation", isolation, "--plugin-cache", "off",
                                      "--upstream", "Koala=" + upstream.origin(), "chat", "-p", "Koala", "Hello"},
                                     "", 60s, {{"PROVHOST_PLUGIN_PATH", ""}, {"LD_DEBUG", "libs"}});
    REQUIRE_FALSE(chat.timed_out);
    CHECK(chat.exit_code == 0);
    CHECK(chat.out == upstream.expected_text());
    // The loader's lines are there, libcrypto among the libraries it initialised.
    CHECK(chat.err.find("calling init:") != std::string::npos);
    CHECK(chat.err.find("libcrypto.so.") != std::string::npos);
#ifdef PROVHOST_SANITIZED_BUILD
    CHECK(finalised_libcrypto(chat.err));
#else
    CHECK_FALSE(finalised_libcrypto(chat.err));
#endif
  }

  // An upstream error: its line on stderr and its exit code, all the same.
  ProcessResult refused = run_process({provhost_binary(), "--isolation", "none", "--upstream",
                                       "Koala=http://127.0.0.1:1", "chat", "-p", "Koala", "Hello"},
                                      "", 60s, {{"PROVHOST_PLUGIN_PATH", ""}});
  REQUIRE_FALSE(refused.timed_out);
  CHECK(refused.exit_code == 4);
  CHECK(refused.err.starts_with("provhost: Koala: connection failed: "));
  CHECK(refused.err.ends_with("\n"));
}
