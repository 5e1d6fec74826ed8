// Scanning out of process: plugin files that crash, hang or exit while loading are rejected with
// how, every other provider keeps working, and the scan cache spares a warm `list` every load.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "e2e/e2e.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using provhost::e2e::Upstream;
using provhost::test::ProcessResult;
using provhost::test::TempDir;

namespace {

const fs::path scan_dir = PROVHOST_HOSTILE_SCAN_DIR;
const fs::path marker_dir = PROVHOST_HOSTILE_MARKER_DIR;

// What `list` must say about each hostile file (the loop plugin with --scan-timeout 2).
const std::map<std::string, std::string> expected_reasons = {
    {"provhost-entry-segv.so", "crashed while loading: SIGSEGV"},
    {"provhost-entry-abort.so", "crashed while loading: SIGABRT"},
    {"provhost-entry-loop.so", "did not finish loading in 2 s"},
    {"provhost-entry-exit.so", "exited with status 0 while loading"},
    {"provhost-wild-pointer.so", "crashed while loading: SIGSEGV"},
    {"provhost-constructor.so", "crashed while loading: SIGSEGV"},
    // What a plugin forges on its worker's channel meets the loader's checks all the same.
    {"provhost-forged-answer.so", "invalid provider name \"Evil\\x0aName\" (allowed: A-Z a-z 0-9 _ -)"},
};

std::map<std::string, std::string> rejected_in(const std::string &json_text, const fs::path &folder) {
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(json_text.c_str()).HasParseError());
  std::map<std::string, std::string> reasons;
  for (const auto &rejected : json["rejected"].GetArray()) {
    fs::path file = rejected["file"].GetString();
    if (file.parent_path() == folder) reasons[file.filename().string()] = rejected["reason"].GetString();
  }
  return reasons;
}

std::vector<std::string> provider_names(const std::string &json_text) {
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(json_text.c_str()).HasParseError());
  std::vector<std::string> names;
  for (const auto &provider : json["providers"].GetArray()) names.emplace_back(provider["name"].GetString());
  return names;
}

size_t lines_in(const fs::path &file) {
  std::ifstream in(file);
  size_t count = 0;
  for (std::string line; std::getline(in, line);) ++count;
  return count;
}

}  // namespace

TEST_CASE("list names each plugin that crashes, hangs or exits while loading, and how") {
  Upstream upstream;
  TempDir cache;
  std::vector<std::string> args = {
      "--plugin-dir", scan_dir.string(), "--plugin-cache", cache.path().string(), "--scan-timeout", "2",
      "list",         "--json"};
  for (const char *warmth : {"cold", "warm"}) {
    INFO(warmth << " cache");
    ProcessResult r = upstream.provhost(args);
    REQUIRE(r.exit_code == 0);
    CHECK(rejected_in(r.out, scan_dir) == expected_reasons);
    std::vector<std::string> names = provider_names(r.out);
    for (const char *name : {"Koala", "Ylokh", "Thread"})
      CHECK(std::find(names.begin(), names.end(), name) != names.end());
  }
  ProcessResult text = upstream.provhost(
      {"--plugin-dir", scan_dir.string(), "--plugin-cache", cache.path().string(), "--scan-timeout", "2", "list"});
  CHECK_THAT(text.out, Catch::Contains((scan_dir / "provhost-entry-exit.so").string() +
                                       ": exited with status 0 while loading\n"));
  CHECK_THAT(text.out, Catch::Contains("rejected files"));
}

TEST_CASE("chat through another provider prints the exact text beside plugins that crash while loading") {
  Upstream upstream;
  TempDir cache;
  ProcessResult r = upstream.provhost({"--plugin-dir", scan_dir.string(), "--plugin-cache", cache.path().string(),
                                       "--scan-timeout", "2", "chat", "-p", "Koala", "Hello"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == upstream.emulator.expected_text());
}

TEST_CASE("inspect FILE says how a plugin crashed while loading") {
  Upstream upstream;
  TempDir cache;
  ProcessResult r =
      upstream.provhost({"--plugin-dir", scan_dir.string(), "--plugin-cache", cache.path().string(), "--scan-timeout",
                         "2", "inspect", (scan_dir / "provhost-entry-abort.so").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "provhost: " + (scan_dir / "provhost-entry-abort.so").string() +
                     " was rejected: crashed while loading: SIGABRT\n");
}

TEST_CASE("a thread that crashes after loading costs its own chats only") {
  Upstream upstream;
  TempDir cache;
  std::vector<std::string> common = {"--plugin-dir",   scan_dir.string(),
                                     "--plugin-cache", cache.path().string(),
                                     "--scan-timeout", "2",
                                     "--upstream",     "Thread=" + upstream.emulator.origin()};
  std::vector<std::string> crash = common;
  crash.insert(crash.end(), {"chat", "-p", "Thread", "Hi"});
  ProcessResult r = upstream.provhost(crash);
  CHECK(r.exit_code == 3);
  CHECK(r.err == "provhost: Thread: the plugin crashed: SIGSEGV\n");
  std::vector<std::string> koala = common;
  koala.insert(koala.end(), {"chat", "-p", "Koala", "Hello"});
  ProcessResult k = upstream.provhost(koala);
  CHECK(k.exit_code == 0);
  CHECK(k.out == upstream.emulator.expected_text());
}

TEST_CASE("a warm scan cache loads no plugin, and a changed file is scanned again") {
  Upstream upstream;
  TempDir cache, plugins, marks;
  fs::copy_file(marker_dir / "provhost-marker.so", plugins.path() / "provhost-marker.so");
  const fs::path marker = marks.path() / "loads.txt";
  provhost::test::Environment env = {{"PROVHOST_TEST_SCAN_MARKER", marker.string()}};
  std::vector<std::string> list = {"--plugin-dir", plugins.path().string(), "--plugin-cache", cache.path().string(),
                                   "list"};
  REQUIRE(upstream.provhost(list, "", env).exit_code == 0);
  CHECK(lines_in(marker) == 1);
  ProcessResult warm = upstream.provhost(list, "", env);
  CHECK(warm.exit_code == 0);
  CHECK_THAT(warm.out, Catch::Contains("Marker"));
  CHECK(lines_in(marker) == 1);
  // Another modification time is another file.
  fs::last_write_time(plugins.path() / "provhost-marker.so",
                      fs::last_write_time(plugins.path() / "provhost-marker.so") - std::chrono::hours(1));
  REQUIRE(upstream.provhost(list, "", env).exit_code == 0);
  CHECK(lines_in(marker) == 2);
  // "off" keeps nothing: every run loads.
  std::vector<std::string> uncached = {"--plugin-dir", plugins.path().string(), "--plugin-cache", "off", "list"};
  REQUIRE(upstream.provhost(uncached, "", env).exit_code == 0);
  REQUIRE(upstream.provhost(uncached, "", env).exit_code == 0);
  CHECK(lines_in(marker) == 4);
}

TEST_CASE("isolation none loads plugins in provhost itself, with no cache") {
  Upstream upstream;
  TempDir cache, plugins, marks;
  fs::copy_file(marker_dir / "provhost-marker.so", plugins.path() / "provhost-marker.so");
  const fs::path marker = marks.path() / "loads.txt";
  provhost::test::Environment env = {{"PROVHOST_TEST_SCAN_MARKER", marker.string()},
                                     {"PROVHOST_PLUGIN_CACHE", cache.path().string()}};
  std::vector<std::string> list = {"--isolation", "none", "--plugin-dir", plugins.path().string(), "list"};
  REQUIRE(upstream.provhost(list, "", env).exit_code == 0);
  REQUIRE(upstream.provhost(list, "", env).exit_code == 0);
  CHECK(lines_in(marker) == 2);  // no cache in this mode
  CHECK(fs::is_empty(cache.path()));
  env.emplace_back("PROVHOST_ISOLATION", "none");
  REQUIRE(upstream.provhost({"--plugin-dir", plugins.path().string(), "list"}, "", env).exit_code == 0);
  CHECK(lines_in(marker) == 3);
  ProcessResult bad = upstream.provhost({"--isolation", "threads", "list"});
  CHECK(bad.exit_code == 2);
  ProcessResult bad_env = upstream.provhost({"list"}, "", {{"PROVHOST_ISOLATION", "threads"}});
  CHECK(bad_env.exit_code == 2);
  CHECK(bad_env.err == "provhost: PROVHOST_ISOLATION: isolation must be process or none, got \"threads\"\n");
}
