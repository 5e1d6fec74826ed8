// What the provhost executable loads, and how it finds the engine module that chat and serve run in.
#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <filesystem>
#include <fstream>
#include <provhost/bundled_providers.hpp>
#include <provhost/core/isolation.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const fs::path module_file = PROVHOST_ENGINE_MODULE_FILE;
// Where the executable looks for its module, relative to the folder it is in.
const fs::path module_from_bin = fs::path("..") / module_file.lexically_relative(build_dir());

// No plugin folder or upstream from the machine's environment.
const Environment clean = {{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_UPSTREAM_KOALA", ""}};

ProcessResult run(const std::vector<std::string> &argv, const Environment &extra = {}) {
  Environment env = clean;
  env.insert(env.end(), extra.begin(), extra.end());
  ProcessResult result = run_process(argv, "", 60s, env);
  REQUIRE_FALSE(result.timed_out);
  return result;
}

// The libraries the dynamic loader brought in while `provhost <args>` ran, as LD_DEBUG=libs tells.
ProcessResult run_watching_libraries(const std::vector<std::string> &args) {
  std::vector<std::string> argv = {provhost_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {{"LD_DEBUG", "libs"}});
}

bool loaded_libcurl(const ProcessResult &result) { return result.err.find("libcurl.so") != std::string::npos; }

// A copy of the provhost executable (and its worker) in DIR/bin, with or without anything in
// DIR/lib/provhost: how an installation looks to the executable.
struct CopiedExecutable {
  TempDir dir;
  fs::path bin = dir.path() / "bin";
  fs::path module = (bin / module_from_bin).lexically_normal();

  CopiedExecutable() {
    fs::create_directories(bin);
    for (const char *name : {"provhost", "provhost-plugin-worker"})
      fs::copy_file(fs::path(build_dir()) / "bin" / name, bin / name);
  }
  ProcessResult provhost(const std::vector<std::string> &args) const {
    std::vector<std::string> argv = {(bin / "provhost").string(), "--plugin-dir", plugin_dir(), "--plugin-cache",
                                     "off"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  void put_module(const std::string &bytes) const {
    fs::create_directories(module.parent_path());
    std::ofstream(module, std::ios::binary) << bytes;
  }
};

void check_one_line(const ProcessResult &result, int exit_code, const std::string &line) {
  INFO(result.err);
  CHECK(result.exit_code == exit_code);
  CHECK(result.out.empty());
  CHECK(result.err == line + "\n");
}

}  // namespace

TEST_CASE("list, inspect, config and --version never load libcurl") {
  const std::vector<std::vector<std::string>> commands = {
      {"list"},
      {"list", "--json"},
      {"--isolation", "none", "list"},
      {"inspect", std::string(provhost::bundled::providers[0].name)},
      {"config"},
      {"--version"},
      {"--help"},
  };
  for (const auto &args : commands) {
    INFO(args.back());
    ProcessResult result = run_watching_libraries(args);
    CHECK(result.exit_code == 0);
    CHECK_FALSE(loaded_libcurl(result));
    // The loader's own lines are there: the check above could have seen libcurl.
    CHECK(result.err.find("calling init:") != std::string::npos);
  }
}

TEST_CASE("chat and serve load the engine module, and libcurl with it") {
  // No prompt: a usage error, found by chat's own code in the module.
  ProcessResult chat = run_watching_libraries({"chat", "-p", "Koala"});
  CHECK(chat.exit_code == 2);
  CHECK(loaded_libcurl(chat));
  CHECK(chat.err.find(module_file.filename().string()) != std::string::npos);
  ProcessResult serve = run_watching_libraries({"serve", "--listen", "nowhere"});
  CHECK(serve.exit_code == 2);
  CHECK(loaded_libcurl(serve));
}

TEST_CASE("without its engine module, chat and serve say so in one line and the rest works") {
  CopiedExecutable copy;
  const std::string missing =
      "the engine module " + copy.module.string() + " is missing (is provhost installed whole?)";
  check_one_line(copy.provhost({"chat", "-p", "Koala", "Hi"}), 1, "provhost: cannot run chat: " + missing);
  check_one_line(copy.provhost({"serve", "--listen", "127.0.0.1:0"}), 1, "provhost: cannot run serve: " + missing);
  // An upstream override is checked with libcurl's URL parser, which is the module's.
  check_one_line(copy.provhost({"--upstream", "Koala=http://127.0.0.1:1", "list"}), 2,
                 "provhost: cannot check --upstream Koala=http://127.0.0.1:1: " + missing);

  ProcessResult list = copy.provhost({"list"});
  CHECK(list.exit_code == 0);
  CHECK(list.out.find("Koala") != std::string::npos);
  CHECK(copy.provhost({"inspect", "Koala"}).exit_code == 0);
  CHECK(copy.provhost({"config"}).exit_code == 0);
}

TEST_CASE("an engine module that cannot be loaded, or is not one, is one line") {
  CopiedExecutable copy;
  copy.put_module("not a shared library");
  check_one_line(
      copy.provhost({"chat", "-p", "Koala", "Hi"}), 1,
      "provhost: cannot run chat: the engine module " + copy.module.string() + " cannot be loaded: file too short");

  // A shared library, but a plugin rather than the module.
  fs::remove(copy.module);
  fs::copy_file(fs::path(plugin_dir()) / "provhost-koala.so", copy.module);
  check_one_line(copy.provhost({"serve"}), 1,
                 "provhost: cannot run serve: the engine module " + copy.module.string() +
                     " has no provhost_engine_module (is it provhost's engine module?)");
}

TEST_CASE("an installed provhost finds its plugins and its engine module, and chats") {
  TempDir dir;
  const fs::path prefix = dir.path() / "prefix";
  ProcessResult install = run({PROVHOST_CMAKE_COMMAND, "--install", build_dir(), "--prefix", prefix.string()});
  INFO(install.out << install.err);
  REQUIRE(install.exit_code == 0);
  const std::string provhost = (prefix / "bin" / "provhost").string();

  ProcessResult list = run({provhost, "--plugin-cache", "off", "list"});
  CHECK(list.exit_code == 0);
  for (const auto &bundled : provhost::bundled::providers) CHECK(list.out.find(bundled.name) != std::string::npos);
  CHECK(list.out.find((prefix / "lib" / "provhost" / "plugins").string()) != std::string::npos);

  provhost::emulator::Emulator upstream;
  upstream.start();
  ProcessResult chat = run(
      {provhost, "--plugin-cache", "off", "--upstream", "Koala=" + upstream.origin(), "chat", "-p", "Koala", "Hello"});
  INFO(chat.err);
  CHECK(chat.exit_code == 0);
  CHECK(chat.out == upstream.expected_text());
}

TEST_CASE("a command's options, added only once it is chosen, are all there") {
  const std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
      {"chat", {"--provider", "--record", "--timeout", "--max-request-body", "PROMPT|-"}},
      {"serve", {"--listen", "--api-key", "--plugin-rescan", "--record", "--timeout", "--max-requests"}},
      {"config", {"--json", "--listen", "--timeout", "--proxy"}},
  };
  for (const auto &[command, options] : commands) {
    INFO(command);
    ProcessResult help = run({provhost_binary(), command, "--help"});
    CHECK(help.exit_code == 0);
    for (const std::string &option : options) CHECK(help.out.find(option) != std::string::npos);
  }
  // Parsed, not only listed: a bad value is chat's usage error; a good one reaches the configuration.
  ProcessResult bad = run({provhost_binary(), "chat", "--timeout", "soon", "Hi"});
  CHECK(bad.exit_code == 2);
  ProcessResult config = run({provhost_binary(), "config", "--timeout", "7", "--listen", "127.0.0.1:9"});
  CHECK(config.exit_code == 0);
  CHECK(config.out.find("from --timeout") != std::string::npos);
  CHECK(config.out.find("\"127.0.0.1:9\"") != std::string::npos);
}

TEST_CASE("provhost and its engine module have the C++ library linked in, except in a sanitized build") {
  // config, and chat with its engine module (no prompt: a usage error, found in the module).
  for (const std::vector<std::string> &args : {std::vector<std::string>{"config"}, {"chat", "-p", "Koala"}}) {
    INFO(args.front());
    ProcessResult result = run_watching_libraries(args);
    CHECK(result.err.find("calling init:") != std::string::npos);
#ifdef PROVHOST_SANITIZED_BUILD
    CHECK(result.err.find("libstdc++.so") != std::string::npos);
#else
    CHECK(result.err.find("libstdc++.so") == std::string::npos);
#endif
  }
}

TEST_CASE("the engine module exports its entry variable alone, so that loading it looks up none of its own") {
  ProcessResult symbols = run({"nm", "-D", "--defined-only", module_file.string()});
  REQUIRE(symbols.exit_code == 0);
  std::vector<std::string> names;
  std::istringstream lines(symbols.out);
  for (std::string line; std::getline(lines, line);) names.push_back(line.substr(line.rfind(' ') + 1));
  CHECK(names == std::vector<std::string>{"provhost_engine_module"});
}

TEST_CASE("no provhost process loads libseccomp: the sandbox and the names of calls were made at build time") {
  // list, and chat with its engine module (no prompt: a usage error, found in the module).
  for (const std::vector<std::string> &args : {std::vector<std::string>{"list"}, {"chat", "-p", "Koala"}}) {
    INFO(args.front());
    ProcessResult result = run_watching_libraries(args);
    CHECK(result.err.find("calling init:") != std::string::npos);
    CHECK(result.err.find("libseccomp") == std::string::npos);
  }
  const std::string worker = (fs::path(provhost_binary()).parent_path() / "provhost-plugin-worker").string();
  // No arguments: the usage line and status 2, after the loader has loaded what the worker needs.
  ProcessResult result = run({worker}, {{"LD_DEBUG", "libs"}});
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("calling init:") != std::string::npos);
  CHECK(result.err.find("libseccomp") == std::string::npos);
  // The worker has the C++ library linked in, as provhost has (cxx_runtime_test.cpp: its chats).
#ifdef PROVHOST_SANITIZED_BUILD
  CHECK(result.err.find("libstdc++.so") != std::string::npos);
#else
  CHECK(result.err.find("libstdc++.so") == std::string::npos);
#endif
}
