// The host rejects each broken plugin with the right reason, keeps the good ones, and survives
// plugins whose sessions throw.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <fstream>
#include <map>
#include <provhost/core/host_services.hpp>
#include <provhost/core/registry.hpp>
#include <sstream>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;

namespace {

const fs::path broken_dir = PROVHOST_BROKEN_PLUGIN_DIR;

std::string in_broken_dir(const std::string &file) { return (broken_dir / file).string(); }

// "1.<minor>" of this host's major.
std::string abi_text(unsigned minor) { return std::to_string(PH_ABI_VERSION_MAJOR) + "." + std::to_string(minor); }

// What `provhost list` must say about each broken file.
const std::map<std::string, std::string> expected_reasons = {
    {"provhost-no-entry.so", "no entry symbol provhost_plugin_entry"},
    {"provhost-wrong-major.so", "plugin speaks ABI 2.0; this host speaks 1.x"},
    {"provhost-newer-minor.so", "plugin answered ABI " + abi_text(PH_ABI_VERSION_MINOR + 1) + ", newer than the " +
                                    abi_text(PH_ABI_VERSION_MINOR) + " this host offered"},
    {"provhost-refuses.so", "the plugin refused to load: needs a licence key that is not installed"},
    {"provhost-null-provider.so", "the plugin returned no provider (NULL)"},
    {"provhost-null-name.so", "the provider's name is NULL"},
    {"provhost-empty-name.so", "the provider's name is empty"},
    {"provhost-twin-b.so",
     "duplicate provider name \"Twin\": already loaded from " + in_broken_dir("provhost-twin-a.so")},
    {"provhost-null-function.so", "required function next_request is NULL"},
    {"provhost-small-struct.so", "ph_provider.struct_size is " + std::to_string(offsetof(ph_provider, session_open))},
    {"provhost-bad-default.so", "default model \"not-listed\" is not among its models"},
    {"provhost-missing-dependency.so", "not loadable: libprovhost-vanished.so.0: cannot open shared object file"},
    {"provhost-entry-throws.so", "the entry function threw an exception: the entry function gave up"},
    {"provhost-notelf.so", "not loadable: invalid ELF header"},
};

// The good plugins in the same folder, by provider name.
const std::map<std::string, std::string> expected_good = {
    {"RawGood", "provhost-raw-good.so"}, {"Example", "provhost-example.so"},        {"Twin", "provhost-twin-a.so"},
    {"Thrower", "provhost-thrower.so"},  {"RawThrower", "provhost-raw-thrower.so"},
};

// Only the broken folder and the default one: nothing from the caller's environment.
const Environment clean_env = {{"PROVHOST_PLUGIN_PATH", ""}};

ProcessResult run_provhost(std::vector<std::string> args) {
  std::vector<std::string> argv = {provhost_binary(), "--plugin-dir", broken_dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, "", std::chrono::seconds(30), clean_env);
}

size_t count_lines(const std::string &text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

TEST_CASE("list --json reports every broken plugin with its reason and keeps the good ones") {
  ProcessResult r = run_provhost({"list", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(r.out.c_str()).HasParseError());

  std::map<std::string, std::string> reasons;
  for (const auto &rejected : json["rejected"].GetArray()) {
    fs::path file = rejected["file"].GetString();
    if (file.parent_path() == broken_dir) reasons[file.filename().string()] = rejected["reason"].GetString();
  }
  for (const auto &[file, reason] : expected_reasons) {
    INFO(file);
    REQUIRE(reasons.count(file) == 1);
    CHECK_THAT(reasons[file], Catch::StartsWith(reason));
    CHECK(reasons[file].find('\n') == std::string::npos);
  }
  CHECK(reasons.size() == expected_reasons.size());

  std::map<std::string, std::string> loaded;
  for (const auto &provider : json["providers"].GetArray())
    loaded[provider["name"].GetString()] = provider["file"].GetString();
  for (const auto &[name, file] : expected_good) {
    INFO(name);
    REQUIRE(loaded.count(name) == 1);
    CHECK(loaded[name] == in_broken_dir(file));
  }
}

TEST_CASE("list shows the rejected files and their reasons as text") {
  ProcessResult r = run_provhost({"list"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const auto &[file, reason] : expected_reasons)
    CHECK_THAT(r.out, Catch::Contains(in_broken_dir(file) + ": " + reason));
  for (const auto &[name, file] : expected_good) CHECK_THAT(r.out, Catch::Contains(in_broken_dir(file)));
  // The closing line counts what the JSON lists.
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(run_provhost({"list", "--json"}).out.c_str()).HasParseError());
  size_t providers = json["providers"].Size(), rejected = json["rejected"].Size();
  CHECK_THAT(r.out, Catch::EndsWith(std::to_string(providers) + " providers, " + std::to_string(rejected) +
                                    " rejected files\n"));
}

TEST_CASE("inspect names a rejected file's reason and exits 2") {
  ProcessResult r = run_provhost({"inspect", in_broken_dir("provhost-wrong-major.so")});
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("plugin speaks ABI 2.0; this host speaks 1.x"));
  CHECK(count_lines(r.err) == 1);
}

TEST_CASE("inspect of a good plugin outside the plugin folders shows its metadata") {
  ProcessResult r = run_process({provhost_binary(), "inspect", in_broken_dir("provhost-raw-good.so"), "--json"}, "",
                                std::chrono::seconds(30), clean_env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(r.out.c_str()).HasParseError());
  CHECK(std::string(json["name"].GetString()) == "RawGood");
  CHECK(std::string(json["abi"].GetString()) == abi_text(PH_ABI_VERSION_MINOR));
  CHECK(json["size"].GetUint64() == fs::file_size(broken_dir / "provhost-raw-good.so"));
}

TEST_CASE("a registry calls deinit, then closes the library, when it is destroyed") {
  TempDir dir;
  fs::path marker = dir.path() / "deinit.txt";
  auto settings = std::make_shared<provhost::core::HostSettings>();
  settings->provider_config["PROVHOST_RAWGOOD_DEINIT_MARKER"] = marker.string();
  auto mapped = [] {
    std::ifstream maps("/proc/self/maps");
    std::stringstream text;
    text << maps.rdbuf();
    return text.str().find("provhost-raw-good.so") != std::string::npos;
  };
  {
    provhost::core::Registry registry(settings);
    REQUIRE(registry.load_file(broken_dir / "provhost-raw-good.so"));
    CHECK(mapped());
    CHECK_FALSE(fs::exists(marker));
  }
  std::ifstream written(marker);
  std::string line;
  CHECK((std::getline(written, line) && line == "deinit"));
  CHECK_FALSE(mapped());
}

TEST_CASE("a good raw C plugin and a good C++ plugin chat through the emulator") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  SECTION("raw C: passes the answer's bytes through") {
    ProcessResult r = run_provhost({"--upstream", "RawGood=" + upstream.origin(), "chat", "-p", "RawGood", "hello"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == upstream.answer_body("ylokh", true));
  }
  SECTION("C++ helper: the example plugin") {
    ProcessResult r = run_provhost({"--upstream", "Example=" + upstream.origin(), "chat", "-p", "Example", "hello"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == upstream.expected_text());
  }
}

TEST_CASE("a session that throws ends the chat with a one-line error, not a crash") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  for (std::string name : {"Thrower", "RawThrower"}) {
    INFO(name);
    ProcessResult r =
        run_provhost({"--upstream", name + "=" + upstream.origin(), "chat", "-p", name, "--timeout", "20", "hello"});
    INFO(r.err);
    CHECK(r.term_signal == 0);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code != 0);
    CHECK(r.exit_code < 128);
    CHECK(r.out.empty());
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains("exploded"));
  }
}
