// The SDK as a plugin author gets it: configured from sdk/ alone (a compiler and CMake, nothing of the host),
// installed to a prefix, and the examples it installs built out of tree against that prefix, their own tests
// run (their unit tests on the test kit, and provhost validate), and the plugins they make loaded by provhost.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <regex>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string cmake = PROVHOST_CMAKE_COMMAND;

// The host build's compilers (and ccache, when it uses it), so that the SDK and the examples build as fast
// as they can and with what the rest of the suite was tested with.
std::vector<std::string> toolchain() {
  std::vector<std::string> options = {"-DCMAKE_C_COMPILER=" PROVHOST_C_COMPILER,
                                      "-DCMAKE_CXX_COMPILER=" PROVHOST_CXX_COMPILER};
  if (!std::string(PROVHOST_COMPILER_LAUNCHER).empty()) {
    options.push_back("-DCMAKE_C_COMPILER_LAUNCHER=" PROVHOST_COMPILER_LAUNCHER);
    options.push_back("-DCMAKE_CXX_COMPILER_LAUNCHER=" PROVHOST_COMPILER_LAUNCHER);
  }
  return options;
}

ProcessResult cmake_step(std::vector<std::string> args) {
  args.insert(args.begin(), cmake);
  return run_process(args, "", 180s);
}

// Configures `source` into `build` (without optimisation, which compiles fastest), then builds it.
void configure_and_build(const fs::path &source, const fs::path &build, const std::vector<std::string> &extra) {
  std::vector<std::string> configure = {"-S", source.string(), "-B", build.string(), "-DCMAKE_BUILD_TYPE=None"};
  configure.insert(configure.end(), extra.begin(), extra.end());
  for (const auto &step : std::vector<std::vector<std::string>>{configure, {"--build", build.string(), "-j2"}}) {
    ProcessResult r = cmake_step(step);
    INFO("cmake " << step[0] << " " << step[1] << "\n" << r.out << r.err);
    REQUIRE(r.exit_code == 0);
  }
}

}  // namespace

// One test, so that the SDK is built and installed once for both examples.
TEST_CASE("the SDK installs on its own, and its examples build against it, pass their tests and load") {
  TempDir dir;
  const fs::path prefix = dir.path() / "prefix";
  std::vector<std::string> toolchain_options = toolchain();
  configure_and_build(PROVHOST_SDK_SOURCE, dir.path() / "sdk", toolchain_options);
  {
    ProcessResult r = cmake_step({"--install", (dir.path() / "sdk").string(), "--prefix", prefix.string()});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
  }
  REQUIRE(fs::exists(prefix / "include/provhost/provhost.h"));
  REQUIRE(fs::exists(prefix / "share/doc/ProvHostSDK/README.md"));

  toolchain_options.push_back("-DCMAKE_PREFIX_PATH=" + prefix.string());
  struct Example {
    std::string folder, plugin, provider;
  };
  for (const Example &example :
       {Example{"c_plugin", "provhost-c-echo.so", "CEcho"}, Example{"cpp_plugin", "provhost-cpp-echo.so", "CppEcho"}}) {
    INFO(example.folder);
    const fs::path build = dir.path() / example.folder;
    // Given provhost, the example's own CMakeLists adds a test that runs provhost validate on the plugin.
    std::vector<std::string> options = toolchain_options;
    options.push_back("-DPROVHOST_EXECUTABLE=" + provhost_binary());
    configure_and_build(prefix / "share/doc/ProvHostSDK/examples" / example.folder, build, options);

    // Verbose, for the output of each test: validate's summary line among it.
    ProcessResult tests = run_process({PROVHOST_CTEST_COMMAND, "--test-dir", build.string(), "--verbose"}, "", 600s);
    INFO(tests.out << tests.err);
    CHECK(tests.exit_code == 0);
    CHECK(tests.out.find("100% tests passed, 0 tests failed out of 2") != std::string::npos);
    CHECK(tests.out.find(example.provider + ": all checks passed") != std::string::npos);
    std::smatch validated;
    REQUIRE(std::regex_search(tests.out, validated, std::regex("\\n[0-9]+: ([0-9]+) checks passed, 0 failed\\n")));
    CHECK(std::stoi(validated[1]) >= 16);

    ProcessResult inspect = run_process({provhost_binary(), "inspect", (build / example.plugin).string(), "--json"}, "",
                                        30s, {{"PROVHOST_PLUGIN_PATH", ""}});
    INFO(inspect.err);
    REQUIRE(inspect.exit_code == 0);
    rapidjson::Document json;
    REQUIRE_FALSE(json.Parse(inspect.out.c_str()).HasParseError());
    CHECK(std::string(json["name"].GetString()) == example.provider);
  }

  {  // a component the package lacks fails find_package, which names it
    const fs::path project = dir.write("wants/CMakeLists.txt",
                                       "cmake_minimum_required(VERSION 3.20)\n"
                                       "project(wants_a_component NONE)\n"
                                       "find_package(ProvHostSDK REQUIRED COMPONENTS sdk nonesuch)\n");
    ProcessResult r = cmake_step({"-S", project.parent_path().string(), "-B", (dir.path() / "wants-build").string(),
                                  "-DCMAKE_PREFIX_PATH=" + prefix.string()});
    CHECK(r.exit_code != 0);
    // CMake wraps the package's message to its width: compare it with its whitespace made single spaces.
    std::string message;
    for (char c : r.err) {
      const bool space = c == ' ' || c == '\n';
      if (!space || (!message.empty() && message.back() != ' ')) message.push_back(space ? ' ' : c);
    }
    INFO(r.err);
    CHECK(message.find("was built without the component(s) nonesuch (it has: sdk") != std::string::npos);
  }
}
