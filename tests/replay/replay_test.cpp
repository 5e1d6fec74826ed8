// Each bundled plugin replays its recordings (har/, from ./record) to the recorded answer, whole and
// however its responses are cut, keeping the contract all along.
#include <catch2/catch.hpp>
#include <filesystem>
#include <provhost/bundled_providers.hpp>
#include <provhost/testing/har.hpp>
#include <string>

#include "plugin_driver.hpp"

using namespace provhost::test;
namespace kit = provhost::testing;

namespace {

// The recordings of provider `id`: har/<id>-*.har.
std::vector<std::filesystem::path> recordings_of(std::string_view id) {
  std::vector<std::filesystem::path> files;
  for (const auto &entry : std::filesystem::directory_iterator(PROVHOST_REPLAY_HAR_DIR))
    if (entry.path().filename().string().rfind(std::string(id) + "-", 0) == 0) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("every bundled plugin replays its recordings to the recorded answer") {
  for (const auto &bundled : provhost::bundled::providers) {
    const std::vector<std::filesystem::path> files = recordings_of(bundled.id);
    INFO(bundled.name);
    CHECK(files.size() >= 2);  // at least a streamed answer and a truncated one
    for (const auto &file : files) {
      INFO(file.filename().string());
      FakeHost host;
      Plugin plugin(std::string(bundled.file), host);
      const kit::Har har = kit::read_har_file(file.string());
      REQUIRE(har.answer);
      const kit::Replay replay = kit::replay_har(plugin, har);
      for (const std::string &problem : replay.problems) FAIL_CHECK(problem);
      for (const std::string &violation : replay.run.violations) FAIL_CHECK(violation);
      CHECK(replay.run.outcome.text() == har.answer->text);
      CHECK(replay.run.outcome.finished() == har.answer->finished);
    }
  }
}

TEST_CASE("every bundled plugin gives its recorded answer however the recorded responses are cut") {
  for (const auto &bundled : provhost::bundled::providers) {
    for (const auto &file : recordings_of(bundled.id)) {
      INFO(file.filename().string());
      FakeHost host;
      Plugin plugin(std::string(bundled.file), host);
      const kit::Har har = kit::read_har_file(file.string());
      REQUIRE(har.chat);
      const kit::SplitReport report =
          kit::check_splits(plugin, *har.chat, kit::recorded_responder(har, bundled.name), 0);
      for (const std::string &problem : report.problems) FAIL_CHECK(problem);
      CHECK(report.runs > 1);
    }
  }
}
