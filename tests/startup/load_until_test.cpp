// A chat that names its provider, with plugins loaded in process (--isolation none), loads the
// plugin files in search order until one yields it (Registry::load_until): the provider load()
// would keep under that name, without a dlopen of every file after it.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <emulator/emulator.hpp>
#include <filesystem>
#include <provhost/core/registry.hpp>
#include <string>
#include <vector>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// The bundled plugin files, in the order the registry loads them (by name).
std::vector<fs::path> bundled_files() {
  std::vector<fs::path> files;
  for (const auto &entry : fs::directory_iterator(plugin_dir())) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("provhost-") && name.ends_with(".so")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("load_until stops at the file that yields the provider, the one load() keeps") {
  const std::vector<fs::path> files = bundled_files();
  REQUIRE(files.size() >= 3);
  provhost::core::Registry everything;
  everything.load({plugin_dir()});
  REQUIRE(everything.snapshot()->files.size() == files.size());

  // The second file's provider, asked for in other letter case.
  const provhost::core::ProviderPtr second = everything.snapshot()->files[1].providers.at(0);
  std::string asked = second->meta.name;
  for (char &c : asked) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  provhost::core::Registry some;
  some.load_until({plugin_dir()}, asked);
  const auto snapshot = some.snapshot();
  CHECK(snapshot->files.size() == 2);
  const provhost::core::ProviderPtr found = snapshot->find(second->meta.name);
  REQUIRE(found);
  CHECK(found->file == second->file);
  CHECK(found->meta.version == second->meta.version);

  // Asked again: nothing more is loaded.
  some.load_until({plugin_dir()}, second->meta.name);
  CHECK(some.snapshot()->files.size() == 2);
}

TEST_CASE("load_until loads every file when none yields the provider") {
  provhost::core::Registry registry;
  registry.load_until({plugin_dir()}, "NoSuchProvider");
  CHECK(registry.snapshot()->files.size() == bundled_files().size());
  CHECK_FALSE(registry.snapshot()->find("NoSuchProvider"));
}

TEST_CASE("load_until keeps the first file that yields the provider, as load() does") {
  TempDir first;
  const fs::path koala = fs::path(plugin_dir()) / "provhost-koala.so";
  // Named to come last in its folder, which comes first in the search.
  fs::copy_file(koala, first.path() / "provhost-zz-another-koala.so");
  const std::vector<fs::path> folders = {first.path(), plugin_dir()};

  provhost::core::Registry everything;
  everything.load(folders);
  provhost::core::Registry some;
  some.load_until(folders, "Koala");
  REQUIRE(everything.snapshot()->find("Koala"));
  REQUIRE(some.snapshot()->find("Koala"));
  CHECK(some.snapshot()->find("Koala")->file == first.path() / "provhost-zz-another-koala.so");
  CHECK(some.snapshot()->find("Koala")->file == everything.snapshot()->find("Koala")->file);
  CHECK(some.snapshot()->files.size() == 1);
}

TEST_CASE("chat -p NAME in process opens no plugin file after NAME's, and answers") {
  const std::vector<fs::path> files = bundled_files();
  provhost::core::Registry first_only;
  first_only.load_until({plugin_dir()}, "NoSuchProvider");
  const provhost::core::ProviderPtr first = first_only.snapshot()->files.at(0).providers.at(0);
  provhost::emulator::Emulator upstream;
  upstream.start();
  ProcessResult chat = run_process({provhost_binary(), "--isolation", "none", "--upstream",
                                    first->meta.name + "=" + upstream.origin(), "chat", "-p", first->meta.name, "Hi"},
                                   "", 60s, {{"PROVHOST_PLUGIN_PATH", ""}, {"LD_DEBUG", "files"}});
  REQUIRE_FALSE(chat.timed_out);
  INFO(chat.err);
  CHECK(chat.exit_code == 0);
  CHECK(chat.out == upstream.expected_text());
  CHECK(chat.err.find(files[0].filename().string()) != std::string::npos);
  for (size_t i = 1; i < files.size(); ++i) CHECK(chat.err.find(files[i].filename().string()) == std::string::npos);

  // The whole search still happens for a provider no file yields: the same one-line error as ever.
  ProcessResult unknown = run_process({provhost_binary(), "--isolation", "none", "chat", "-p", "NoSuchProvider", "Hi"},
                                      "", 60s, {{"PROVHOST_PLUGIN_PATH", ""}});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("NoSuchProvider") != std::string::npos);
}
