// The provhost command line: --help, --version, usage errors, list and inspect, the search path.
#include <provhost/provhost.h>
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;

namespace {

// The ABI this host speaks, as the commands print it; what a plugin built against this header answers too.
const std::string abi_version = std::to_string(PH_ABI_VERSION_MAJOR) + "." + std::to_string(PH_ABI_VERSION_MINOR);

const fs::path test_plugins = PROVHOST_TEST_PLUGIN_DIR;  // built by tests/broken_plugins

// Nothing from the caller's environment changes what is loaded.
const Environment clean_env = {{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_LOG", ""}};

ProcessResult run_provhost(const std::vector<std::string> &args, const Environment &env = clean_env) {
  std::vector<std::string> argv = {provhost_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, "", std::chrono::seconds(30), env);
}

size_t count_lines(const std::string &text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

// A plugin folder holding copies of some of the test plugins.
struct PluginFolder {
  TempDir dir;
  explicit PluginFolder(std::initializer_list<const char *> files) {
    for (const char *file : files) fs::copy_file(test_plugins / file, dir.path() / file);
  }
  std::string path() const { return dir.path().string(); }
  std::string file(const char *name) const { return (dir.path() / name).string(); }
};

rapidjson::Document parse(const std::string &text) {
  rapidjson::Document json;
  json.Parse(text.c_str());
  REQUIRE_FALSE(json.HasParseError());
  return json;
}

const rapidjson::Value *find_provider(const rapidjson::Document &list, const std::string &name) {
  for (const auto &provider : list["providers"].GetArray())
    if (provider["name"].GetString() == name) return &provider;
  return nullptr;
}

}  // namespace

TEST_CASE("the version flag names the program, its version and the plugin ABI") {
  ProcessResult r = run_provhost({"--version"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "provhost " PROVHOST_VERSION " (plugin ABI " + abi_version + ")\n");
}

TEST_CASE("the help lists the commands and documents the exit codes") {
  ProcessResult r = run_provhost({"--help"});
  CHECK(r.exit_code == 0);
  for (const char *text : {"list", "inspect", "chat", "--plugin-dir", "--upstream", "Exit codes:", "130"})
    CHECK_THAT(r.out, Catch::Contains(text));
}

TEST_CASE("a usage error is one line on stderr and exit code 2") {
  auto args = GENERATE(std::vector<std::string>{}, std::vector<std::string>{"--bogus", "list"},
                       std::vector<std::string>{"frobnicate"}, std::vector<std::string>{"list", "extra"},
                       std::vector<std::string>{"inspect"}, std::vector<std::string>{"--upstream", "Ylokh", "list"},
                       std::vector<std::string>{"--upstream", "Ylokh=ftp://x", "list"},
                       std::vector<std::string>{"chat", "--timeout", "-1", "hi"},
                       std::vector<std::string>{"chat", "--timeout", "soon", "hi"},
                       std::vector<std::string>{"chat", "a", "-", "b"});
  INFO(Catch::Detail::stringify(args));
  ProcessResult r = run_provhost(args);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("provhost: "));
  CHECK(count_lines(r.err) == 1);
}

TEST_CASE("list shows a table of providers, the rejected files and a closing count") {
  PluginFolder folder({"provhost-raw-good.so", "provhost-example.so", "provhost-notelf.so"});
  ProcessResult r = run_provhost({"--plugin-dir", folder.path(), "list"});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("NAME "));
  CHECK_THAT(r.out, Catch::Contains("RawGood ") && Catch::Contains(folder.file("provhost-raw-good.so")));
  CHECK_THAT(r.out, Catch::Contains("Example ") && Catch::Contains("stream,no_stream,message_history"));
  CHECK_THAT(r.out, Catch::Contains("Rejected files:\n  " + folder.file("provhost-notelf.so") + ": not loadable"));
  rapidjson::Document json = parse(run_provhost({"--plugin-dir", folder.path(), "list", "--json"}).out);
  size_t providers = json["providers"].Size(), rejected = json["rejected"].Size();
  std::string closing = std::to_string(providers) + " providers, " + std::to_string(rejected);
  closing += rejected == 1 ? " rejected file\n" : " rejected files\n";
  CHECK_THAT(r.out, Catch::EndsWith(closing));
}

TEST_CASE("list --json has the documented schema, with the plugin's metadata") {
  PluginFolder folder({"provhost-raw-good.so", "provhost-example.so", "provhost-notelf.so"});
  ProcessResult r = run_provhost({"--plugin-dir", folder.path(), "list", "--json"});
  REQUIRE(r.exit_code == 0);
  rapidjson::Document json = parse(r.out);
  REQUIRE(json.IsObject());
  for (const auto &provider : json["providers"].GetArray()) {
    for (const char *key : {"name", "version", "file", "abi", "url", "description", "default_model"}) {
      INFO(key);
      REQUIRE(provider.HasMember(key));
      CHECK(provider[key].IsString());
    }
    CHECK(provider["working"].IsBool());
    CHECK(provider["models"].IsArray());
    CHECK(provider["aliases"].IsObject());
    CHECK(provider["capabilities"].IsArray());
  }
  const rapidjson::Value *raw = find_provider(json, "RawGood");
  REQUIRE(raw);
  // What plugins/raw_provider.h declares.
  CHECK(std::string((*raw)["version"].GetString()) == "0.0.1");
  CHECK(std::string((*raw)["file"].GetString()) == folder.file("provhost-raw-good.so"));
  CHECK(std::string((*raw)["abi"].GetString()) == abi_version);
  CHECK((*raw)["working"].GetBool() == false);
  CHECK(std::string((*raw)["url"].GetString()) == "https://raw.invalid");
  CHECK(std::string((*raw)["default_model"].GetString()) == "raw-model");
  REQUIRE((*raw)["models"].Size() == 1);
  CHECK(std::string((*raw)["models"][0].GetString()) == "raw-model");
  REQUIRE((*raw)["capabilities"].Size() == 1);
  CHECK(std::string((*raw)["capabilities"][0].GetString()) == "stream");

  bool notelf_rejected = false;
  for (const auto &rejected : json["rejected"].GetArray())
    notelf_rejected |= rejected["file"].GetString() == folder.file("provhost-notelf.so") &&
                       std::string(rejected["reason"].GetString()).rfind("not loadable: ", 0) == 0;
  CHECK(notelf_rejected);
}

TEST_CASE("the folders of --plugin-dir come first, in order, then PROVHOST_PLUGIN_PATH") {
  // Copies of one plugin: whichever folder is searched first loads it; the later copies are duplicates.
  PluginFolder first({"provhost-raw-good.so"}), second({"provhost-raw-good.so"}), from_env({"provhost-raw-good.so"});
  Environment env = {{"PROVHOST_PLUGIN_PATH", from_env.path()}};
  rapidjson::Document json =
      parse(run_provhost({"--plugin-dir", first.path(), "--plugin-dir", second.path(), "list", "--json"}, env).out);
  const rapidjson::Value *raw = find_provider(json, "RawGood");
  REQUIRE(raw);
  CHECK(std::string((*raw)["file"].GetString()) == first.file("provhost-raw-good.so"));
  std::vector<std::string> duplicates;
  for (const auto &rejected : json["rejected"].GetArray()) {
    CHECK_THAT(rejected["reason"].GetString(), Catch::Contains(first.file("provhost-raw-good.so")));
    duplicates.push_back(rejected["file"].GetString());
  }
  CHECK(duplicates ==
        std::vector<std::string>{second.file("provhost-raw-good.so"), from_env.file("provhost-raw-good.so")});
}

TEST_CASE("PROVHOST_PLUGIN_PATH alone finds plugins, and options may follow the command") {
  PluginFolder env_folder({"provhost-raw-good.so"}), option_folder({"provhost-example.so"});
  rapidjson::Document json =
      parse(run_provhost({"list", "--json", "--plugin-dir", option_folder.path()},
                         {{"PROVHOST_PLUGIN_PATH", "/nonexistent/provhost:" + env_folder.path()}})
                .out);
  CHECK(find_provider(json, "RawGood"));
  CHECK(find_provider(json, "Example"));
}

TEST_CASE("a plugin reached twice through a symlink loads once, silently") {
  PluginFolder folder({"provhost-raw-good.so"});
  TempDir other;
  fs::create_symlink(folder.file("provhost-raw-good.so"), other.path() / "provhost-raw-good.so");
  rapidjson::Document json =
      parse(run_provhost({"--plugin-dir", folder.path(), "--plugin-dir", other.path().string(), "list", "--json"}).out);
  CHECK(find_provider(json, "RawGood"));
  for (const auto &rejected : json["rejected"].GetArray())
    CHECK_THAT(rejected["file"].GetString(), !Catch::Contains("provhost-raw-good.so"));
}

TEST_CASE("inspect NAME shows the file, the ABI and every model") {
  PluginFolder folder({"provhost-raw-good.so"});
  ProcessResult r = run_provhost({"--plugin-dir", folder.path(), "inspect", "rawgood"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const std::string &text : std::vector<std::string>{
           "RawGood", "A test plugin written against the raw C ABI", folder.file("provhost-raw-good.so"),
           std::to_string(fs::file_size(folder.file("provhost-raw-good.so"))) + " bytes", "ABI offered",
           "ABI negotiated", "raw-model  (default)", "stream"})
    CHECK_THAT(r.out, Catch::Contains(text));
}

TEST_CASE("inspect --json describes one provider") {
  PluginFolder folder({"provhost-example.so"});
  ProcessResult r = run_provhost({"--plugin-dir", folder.path(), "inspect", "Example", "--json"});
  REQUIRE(r.exit_code == 0);
  rapidjson::Document json = parse(r.out);
  CHECK(std::string(json["name"].GetString()) == "Example");
  CHECK(std::string(json["abi_offered"].GetString()) == abi_version);
  CHECK(json["models"].Size() == 0);
  CHECK(json["size"].GetUint64() == fs::file_size(folder.file("provhost-example.so")));
}

TEST_CASE("inspect FILE loads a plugin that is in no plugin folder") {
  PluginFolder folder({"provhost-raw-good.so"});
  fs::rename(folder.file("provhost-raw-good.so"), folder.dir.path() / "renamed.so");
  ProcessResult r = run_provhost({"inspect", (folder.dir.path() / "renamed.so").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("RawGood"));
}

TEST_CASE("inspect of an unknown name or a missing file is one line and exit code 2") {
  PluginFolder folder({"provhost-raw-good.so"});
  for (std::string target : {std::string("NoSuchProvider"), folder.dir.path().string() + "/provhost-missing.so"}) {
    ProcessResult r = run_provhost({"--plugin-dir", folder.path(), "inspect", target});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err,
               Catch::Contains(target.find('/') == std::string::npos ? "no provider named" : "provhost-missing.so"));
  }
}

TEST_CASE("inspect NAME of a rejected plugin gives its reason") {
  PluginFolder folder({"provhost-notelf.so"});
  ProcessResult r = run_provhost({"--plugin-dir", folder.path(), "inspect", "notelf"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("was rejected: not loadable"));
}

TEST_CASE("a plugin's log lines carry its name; debug ones only with PROVHOST_LOG=debug") {
  PluginFolder folder({"provhost-raw-good.so"});
  // RawGood logs "unloading" at debug level from its deinit.
  ProcessResult quiet = run_provhost({"--plugin-dir", folder.path(), "list"});
  CHECK_THAT(quiet.err, !Catch::Contains("unloading"));
  ProcessResult debug =
      run_provhost({"--plugin-dir", folder.path(), "list"}, {{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_LOG", "debug"}});
  CHECK_THAT(debug.err, Catch::Contains("provhost: [RawGood] debug: unloading\n"));
}
