// Where plugins are looked for, and which files count as plugins.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <provhost/core/plugin_loader.hpp>

#include "support/process.hpp"

using namespace provhost::core;
namespace fs = std::filesystem;

namespace {

// Where the test binary is, found independently of the code under test.
fs::path expected_default_folder() {
  return (fs::read_symlink("/proc/self/exe").parent_path() / "../lib/provhost/plugins").lexically_normal();
}

}  // namespace

TEST_CASE("only provhost-<name>.so names are plugin files") {
  CHECK(is_plugin_file_name("provhost-ylokh.so"));
  CHECK(is_plugin_file_name("provhost-a.so"));
  CHECK_FALSE(is_plugin_file_name("provhost-.so"));
  CHECK_FALSE(is_plugin_file_name("libprovhost-ylokh.so"));
  CHECK_FALSE(is_plugin_file_name("provhost-ylokh.so.1"));
  CHECK_FALSE(is_plugin_file_name("provhost-ylokh.dll"));
  CHECK_FALSE(is_plugin_file_name("ylokh.so"));
}

TEST_CASE("a folder's plugin files are listed by name, other entries ignored") {
  provhost::test::TempDir dir;
  for (const char *name :
       {"provhost-zeta.so", "provhost-alpha.so", "provhost-Mid.so", "readme.txt", "libfoo.so", "provhost-alpha.so.bak"})
    dir.write(name, "x");
  fs::create_directory(dir.path() / "provhost-folder.so");
  std::vector<fs::path> expected = {dir.path() / "provhost-Mid.so", dir.path() / "provhost-alpha.so",
                                    dir.path() / "provhost-zeta.so"};
  CHECK(plugin_files(dir.path()) == expected);
}

TEST_CASE("a missing folder has no plugin files") {
  provhost::test::TempDir dir;
  CHECK(plugin_files(dir.path() / "missing").empty());
}

TEST_CASE("the search path is the given folders, then the default folder") {
  std::vector<fs::path> expected = {"/cli/a", "/cli/b", "/from/env1", expected_default_folder()};
  CHECK(plugin_search_path({"/cli/a", "/cli/b", "/from/env1"}) == expected);
  CHECK(default_plugin_folder() == expected_default_folder());
}

TEST_CASE("without folders the search path is the default folder, whatever the environment says") {
  setenv("PROVHOST_PLUGIN_PATH", "/from/env", 1);
  CHECK(plugin_search_path({}) == std::vector<fs::path>{expected_default_folder()});
  unsetenv("PROVHOST_PLUGIN_PATH");
}

TEST_CASE("a path list splits at colons and skips empty entries") {
  CHECK(split_path_list("/from/env1::/from/env2:") == std::vector<fs::path>{"/from/env1", "/from/env2"});
  CHECK(split_path_list("relative") == std::vector<fs::path>{"relative"});
  CHECK(split_path_list("").empty());
  CHECK(split_path_list(":::").empty());
}

TEST_CASE("a registry skips missing folders and records files that are not plugins") {
  provhost::test::TempDir dir;
  dir.write("provhost-text.so", "not a shared library, only text long enough to have an ELF header's size\n");
  dir.write("notes.txt", "ignored\n");
  Registry registry;
  registry.load({dir.path() / "missing", dir.path()});
  CHECK(registry.providers().empty());
  REQUIRE(registry.rejected().size() == 1);
  CHECK(registry.rejected()[0].file == dir.path() / "provhost-text.so");
  CHECK_THAT(registry.rejected()[0].reason, Catch::StartsWith("not loadable: "));
}

TEST_CASE("the same file reached through two folders or a symlink is tried once") {
  provhost::test::TempDir dir;
  fs::create_directories(dir.path() / "a");
  fs::create_directories(dir.path() / "b");
  dir.write("a/provhost-text.so", "not a shared library\n");
  fs::create_symlink(dir.path() / "a/provhost-text.so", dir.path() / "b/provhost-link.so");
  Registry registry;
  registry.load({dir.path() / "a", dir.path() / "b", dir.path() / "a"});
  CHECK(registry.rejected().size() == 1);
}

TEST_CASE("a plugin's file name is provhost-<id> and the system's library suffix") {
  CHECK(provhost::core::plugin_file_name("koala") == "provhost-koala.so");
  CHECK(provhost::core::has_library_suffix("./provhost-koala.so"));
  CHECK(provhost::core::has_library_suffix("x.so"));
  CHECK_FALSE(provhost::core::has_library_suffix(".so"));
  CHECK_FALSE(provhost::core::has_library_suffix("Koala"));
  CHECK_FALSE(provhost::core::has_library_suffix("provhost-koala.so.1"));
}
