// How the executable loads its engine module: with RTLD_DEEPBIND where that is safe (a faster start),
// without it where something must see the module's calls (host/engine_commands.cpp).
#include <elf.h>

#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <provhost/core/isolation.hpp>
#include <string>
#include <vector>

#include "support/process.hpp"

using namespace provhost::test;
using namespace std::chrono_literals;

namespace {

const std::string module_file = std::filesystem::canonical(PROVHOST_ENGINE_MODULE_FILE).string();

ProcessResult run(const std::vector<std::string> &argv, const Environment &extra) {
  Environment env = {{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_UPSTREAM_KOALA", ""}};
  env.insert(env.end(), extra.begin(), extra.end());
  ProcessResult result = run_process(argv, "", 60s, env);
  REQUIRE_FALSE(result.timed_out);
  return result;
}

// Whether the loader, as LD_DEBUG=scopes tells, searched the module's own libraries before the
// global scope (RTLD_DEEPBIND): its first scope starts with the module itself.
bool module_deep_bound(const std::string &loader_lines) {
  const std::string object = "object=" + module_file + " [0]\n";
  const size_t at = loader_lines.find(object);
  REQUIRE(at != std::string::npos);
  const size_t scope = loader_lines.find("scope 0: ", at + object.size());
  REQUIRE(scope != std::string::npos);
  return loader_lines.compare(scope + 9, module_file.size(), module_file) == 0;
}

// The dynamic relocations of an ELF file that copy a library's variable into it.
size_t copy_relocations(const std::string &file) {
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() >= sizeof(Elf64_Ehdr));
  const auto *header = reinterpret_cast<const Elf64_Ehdr *>(bytes.data());
  REQUIRE(header->e_ident[EI_CLASS] == ELFCLASS64);
  REQUIRE(header->e_shoff + size_t{header->e_shnum} * sizeof(Elf64_Shdr) <= bytes.size());
  const auto *sections = reinterpret_cast<const Elf64_Shdr *>(bytes.data() + header->e_shoff);
  size_t copies = 0;
  for (size_t i = 0; i < header->e_shnum; ++i) {
    if (sections[i].sh_type != SHT_RELA) continue;
    REQUIRE(sections[i].sh_offset + sections[i].sh_size <= bytes.size());
    const auto *entries = reinterpret_cast<const Elf64_Rela *>(bytes.data() + sections[i].sh_offset);
    for (size_t j = 0; j < sections[i].sh_size / sizeof(Elf64_Rela); ++j) {
      const auto type = ELF64_R_TYPE(entries[j].r_info);
#if defined(__x86_64__)
      if (type == R_X86_64_COPY) ++copies;
#elif defined(__aarch64__)
      if (type == R_AARCH64_COPY) ++copies;
#endif
    }
  }
  return copies;
}

}  // namespace

TEST_CASE("the engine module looks its symbols up among its own libraries first, except in a sanitized build") {
  // No prompt: chat's usage error, found by the module's code once loaded.
  ProcessResult chat = run({provhost_binary(), "chat", "-p", "Koala"}, {{"LD_DEBUG", "scopes"}, {"LD_PRELOAD", ""}});
  CHECK(chat.exit_code == 2);
#ifdef PROVHOST_SANITIZED_BUILD
  CHECK_FALSE(module_deep_bound(chat.err));
#else
  // A machine that preloads a library for every program (/etc/ld.so.preload) keeps the global scope first.
  std::error_code absent;
  const bool system_preloads = std::filesystem::file_size("/etc/ld.so.preload", absent) > 0 && !absent;
  CHECK(module_deep_bound(chat.err) == !system_preloads);
#endif
}

TEST_CASE("the executable copies no library variable, which would be a second object for the module") {
  CHECK(copy_relocations(provhost_binary()) == 0);
}

TEST_CASE("a preloaded library still sees the engine module's libcurl call it") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  ProcessResult chat = run({provhost_binary(), "--isolation", "none", "--plugin-cache", "off", "--upstream",
                            "Koala=" + upstream.origin(), "chat", "-p", "Koala", "Hello"},
                           {{"LD_DEBUG", "scopes"}, {"LD_PRELOAD", PROVHOST_CONNECT_WITNESS}});
  INFO(chat.err);
  CHECK(chat.exit_code == 0);
  CHECK(chat.out == upstream.expected_text());
  CHECK(chat.err.find("connect_witness: connect\n") != std::string::npos);
  CHECK_FALSE(module_deep_bound(chat.err));
}
