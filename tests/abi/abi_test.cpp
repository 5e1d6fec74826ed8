// A plugin built against the frozen ABI 1.0 header loads at 1.0 and chats in this (newer) host, and is never
// asked for an instance, which 1.0 cannot express.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <provhost/core/host_services.hpp>
#include <provhost/core/plugin_abi.hpp>
#include <provhost/core/registry.hpp>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;

namespace {

const fs::path abi_dir = PROVHOST_ABI_PLUGIN_DIR;
const fs::path abi_1_0_plugin = abi_dir / "provhost-abi-1-0.so";
const Environment clean_env = {{"PROVHOST_PLUGIN_PATH", ""}};

ProcessResult run_provhost(std::vector<std::string> args) {
  std::vector<std::string> argv = {provhost_binary(), "--plugin-dir", abi_dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, "", std::chrono::seconds(30), clean_env);
}

}  // namespace

TEST_CASE("the host is newer than ABI 1.0") { CHECK(PH_ABI_VERSION_MINOR >= 1); }

TEST_CASE("a plugin compiled against the frozen 1.0 header loads at 1.0") {
  ProcessResult r = run_process({provhost_binary(), "inspect", abi_1_0_plugin.string(), "--json"}, "",
                                std::chrono::seconds(30), clean_env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(r.out.c_str()).HasParseError());
  CHECK(std::string(json["name"].GetString()) == "Abi10");
  CHECK(std::string(json["abi"].GetString()) == "1.0");
}

TEST_CASE("a plugin compiled against the frozen 1.0 header chats, in process and in a worker") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  for (const char *isolation : {"none", "process"}) {
    INFO(isolation);
    ProcessResult r = run_provhost(
        {"--isolation", isolation, "--upstream", "Abi10=" + upstream.origin(), "chat", "-p", "Abi10", "hello"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == upstream.answer_body("ylokh", true));
  }
}

TEST_CASE("a 1.0 plugin is not made into an instance, which its ABI cannot express") {
  provhost::core::HostServices services("Mine");
  provhost::core::PluginLibraryLoad load =
      provhost::core::load_plugin_library(abi_1_0_plugin, *services.table(), PH_ABI_VERSION, {}, "Mine");
  CHECK_FALSE(load.library);
  CHECK(load.error == "the plugin speaks ABI 1.0, which has no instances (1.1 and later)");
}
