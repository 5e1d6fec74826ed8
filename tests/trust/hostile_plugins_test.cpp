// The real binary beside hostile plugins: `list` names each file with its metadata problem and
// forges no line, each hostile provider's chat fails with the right message, and Koala, in the same
// plugin path, still answers the exact text.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <map>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;

namespace {

const fs::path hostile_dir = PROVHOST_HOSTILE_PLUGIN_DIR;

// Only the hostile folder and the default one: nothing from the caller's environment.
const Environment clean_env = {{"PROVHOST_PLUGIN_PATH", ""}};

ProcessResult run_provhost(std::vector<std::string> args) {
  std::vector<std::string> argv = {provhost_binary(), "--plugin-dir", hostile_dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, "", std::chrono::seconds(60), clean_env);
}

// What `list` must say about each file whose metadata is hostile.
const std::map<std::string, std::string> expected_reasons = {
    {"provhost-many-models.so", "the provider lists 1000000 models, more than the limit of 10000 (--max-models)"},
    {"provhost-long-name.so", "the provider's name is 102400 bytes long, more than the limit of 64"},
    {"provhost-control-name.so",
     "invalid provider name \"Evil\\x0a  /forged/provhost-good.so: loaded\\x1b[2J\" (allowed: A-Z a-z 0-9 _ -)"},
    {"provhost-control-description.so", "description contains a control character"},
};

// Each hostile provider whose chat must fail, and the message `chat` must print for it.
const std::map<std::string, std::string> expected_failures = {
    {"FileUrl", "the plugin asked for a file: URL; only http and https are allowed"},
    {"GopherUrl", "the plugin asked for a gopher: URL; only http and https are allowed"},
    {"BadUrl", "the plugin asked for a URL that cannot be parsed ("},
    {"NulHeader", "the plugin asked for a request with CR, LF or NUL in the value of the header \"Content-Type\""},
    {"HeaderName", "the plugin asked for a request with the header name \"X Not A Token\", not a token"},
    {"ManyHeaders", "the plugin asked for a request with 100000 headers, more than the limit of 100"},
    {"BigBody", "the plugin asked for a request body of 9437184 bytes, more than the limit of 8388608"},
    {"RequestLoop", "the plugin asked for more than 32 requests in one chat (--max-requests)"},
};

}  // namespace

TEST_CASE("list exits 0, names each file with hostile metadata and its reason, and prints no control character") {
  ProcessResult r = run_provhost({"list"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const auto &[file, reason] : expected_reasons)
    CHECK_THAT(r.out, Catch::Contains("  " + (hostile_dir / file).string() + ": " + reason + "\n"));
  for (char c : r.out) {
    if (c != '\n') REQUIRE(static_cast<unsigned char>(c) >= 0x20);
  }
  // The forged line is part of one escaped line, never a line of its own.
  CHECK_THAT(r.out, !Catch::Contains("\n  /forged/provhost-good.so"));

  ProcessResult json = run_provhost({"list", "--json"});
  REQUIRE(json.exit_code == 0);
  rapidjson::Document document;
  REQUIRE_FALSE(document.Parse(json.out.c_str()).HasParseError());
  std::map<std::string, std::string> reasons;
  for (const auto &rejected : document["rejected"].GetArray())
    reasons[fs::path(rejected["file"].GetString()).filename().string()] = rejected["reason"].GetString();
  for (const auto &[file, reason] : expected_reasons) CHECK(reasons[file] == reason);
}

TEST_CASE("each hostile request fails its chat with kind plugin, and Koala still answers the exact text") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  for (const auto &[provider, message] : expected_failures) {
    INFO(provider);
    ProcessResult r = run_provhost({"--upstream", provider + "=" + upstream.origin(), "chat", "-p", provider, "hi"});
    CHECK(r.exit_code == 3);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains("provhost: " + provider + ": " + message));
  }
  // No request of theirs reached the upstream but the request loop's, up to the cap.
  CHECK(upstream.requests().size() == 32);

  ProcessResult koala = run_provhost({"--upstream", "Koala=" + upstream.origin(), "chat", "-p", "Koala", "hi"});
  INFO(koala.err);
  CHECK(koala.exit_code == 0);
  CHECK(koala.out == upstream.expected_text());
}

TEST_CASE("chat prints text that is not UTF-8 repaired, and warns once") {
  for (const char *isolation : {"process", "none"}) {
    INFO("--isolation " << isolation);
    ProcessResult r = run_provhost({"--isolation", isolation, "chat", "-p", "BadText", "hi"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "ok \xEF\xBF\xBD\xEF\xBF\xBD end \x1b[1m! caf\xEF\xBF\xBD\xEF\xBF\xBD");
    const std::string warning = "the plugin sent text that is not UTF-8; shown as U+FFFD";
    CHECK_THAT(r.err, Catch::Contains(warning));
    CHECK(r.err.find(warning) == r.err.rfind(warning));
  }
}

TEST_CASE("a chat whose answer is longer than --max-answer-bytes ends with a clear message") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  ProcessResult r = run_provhost(
      {"--upstream", "Koala=" + upstream.origin(), "chat", "-p", "Koala", "--max-answer-bytes", "10", "hi"});
  CHECK(r.exit_code == 3);
  CHECK(r.out.size() <= 10);
  CHECK_THAT(r.err, Catch::Contains("the answer is longer than the limit of 10 bytes (--max-answer-bytes)"));
}
