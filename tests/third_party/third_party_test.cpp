// A plugin built outside the tree, against the installed SDK only, works like any other.
#include <provhost/provhost.h>
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <sstream>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string cmake = PROVHOST_CMAKE_COMMAND;

// Fails the test with the step's output when it did not succeed.
void step(const std::vector<std::string> &argv, const Environment &env = {}) {
  ProcessResult r = run_process(argv, "", 180s, env);
  INFO(argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << "\n" << r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

std::vector<std::string> defined_dynamic_symbols(const fs::path &library) {
  ProcessResult r = run_process({"nm", "-D", "--defined-only", library.string()});
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> symbols;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (auto space = line.rfind(' '); space != std::string::npos) symbols.push_back(line.substr(space + 1));
  }
  return symbols;
}

}  // namespace

// One test, so that the SDK is installed and the plugin built once.
TEST_CASE("a plugin built out of tree against the installed SDK loads and chats") {
  TempDir dir;
  const fs::path prefix = dir.path() / "sdk", build = dir.path() / "build", plugins = dir.path() / "plugins";
  step({cmake, "--install", build_dir(), "--component", "sdk", "--prefix", prefix.string()});
  REQUIRE(fs::exists(prefix / "include/provhost/provhost.h"));
  // No build type: unoptimised, which compiles fastest.
  step({cmake, "-S", PROVHOST_EXAMPLE_PLUGIN_SOURCE, "-B", build.string(), "-DCMAKE_PREFIX_PATH=" + prefix.string()});
  step({cmake, "--build", build.string()});

  const fs::path plugin = build / "provhost-example.so";
  REQUIRE(fs::exists(plugin));
  CHECK(defined_dynamic_symbols(plugin) == std::vector<std::string>{"provhost_plugin_entry"});

  fs::create_directories(plugins);
  fs::copy_file(plugin, plugins / plugin.filename());
  const std::vector<std::string> host = {provhost_binary(), "--plugin-dir", plugins.string()};

  {  // list --json shows it
    std::vector<std::string> argv = host;
    argv.insert(argv.end(), {"list", "--json"});
    ProcessResult r = run_process(argv, "", 30s, {{"PROVHOST_PLUGIN_PATH", ""}});
    REQUIRE(r.exit_code == 0);
    rapidjson::Document json;
    REQUIRE_FALSE(json.Parse(r.out.c_str()).HasParseError());
    bool found = false;
    for (const auto &provider : json["providers"].GetArray()) {
      if (std::string(provider["name"].GetString()) != "Example") continue;
      found = true;
      CHECK(std::string(provider["file"].GetString()) == (plugins / plugin.filename()).string());
      // Built against this SDK, it speaks this host's ABI.
      CHECK(std::string(provider["abi"].GetString()) ==
            std::to_string(PH_ABI_VERSION_MAJOR) + "." + std::to_string(PH_ABI_VERSION_MINOR));
    }
    CHECK(found);
  }

  {  // it chats through the emulator, streaming or not, with its API key from the environment
    provhost::emulator::Emulator upstream;
    upstream.start();
    for (bool stream : {true, false}) {
      INFO("stream " << stream);
      std::vector<std::string> argv = host;
      argv.insert(argv.end(), {"--upstream", "Example=" + upstream.origin(), "chat", "-p", "Example", "hello"});
      if (!stream) argv.push_back("--no-stream");
      ProcessResult r = run_process(argv, "", 30s, {{"PROVHOST_EXAMPLE_API_KEY", "test-key"}});
      INFO(r.err);
      CHECK(r.exit_code == 0);
      CHECK(r.out == upstream.expected_text());
      REQUIRE_FALSE(upstream.requests().empty());
      CHECK(upstream.requests().back().header("Authorization") == "Bearer test-key");
      CHECK(upstream.requests().back().path == "/v1/chat/completions");
    }
  }
}
