// The registry's side of live plugin folders, in this process (--isolation none): rescans report
// added, replaced, removed and rejected files; a snapshot and a provider version stay usable after
// the registry moved on; a replaced library is really the new one; the watcher publishes a dropped
// file by itself; the session backend retires a replaced version's lane once its session ended; a
// plugin's configured instances (ABI 1.1) are made again from its replaced file.
#include <algorithm>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <provhost/core/host_services.hpp>
#include <provhost/core/plugin_watch.hpp>
#include <provhost/core/registry.hpp>

#include "lane_backend.hpp"
#include "live_plugins.hpp"
#include "support/eventually.hpp"
#include "support/process.hpp"

using namespace provhost::core;
using namespace provhost::live_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> described(const std::vector<PluginEvent> &events) {
  std::vector<std::string> out;
  for (const auto &e : events) {
    std::string line =
        std::string(to_string(e.kind)) + " " + e.file.filename().string() + " " + e.provider + " " + e.version;
    if (!e.previous_version.empty()) line += " was " + e.previous_version;
    if (!e.reason.empty()) line += " because " + e.reason.substr(0, e.reason.find(':'));
    out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("a rescan reports each file added, replaced, rejected and removed, and skips unchanged ones") {
  provhost::test::TempDir folder;
  const fs::path live = folder.path() / "provhost-live.so";
  Registry registry;
  registry.pin_versions();
  registry.load({folder.path()});
  REQUIRE(registry.providers().empty());
  CHECK(registry.rescan({folder.path()}).empty());

  install(steady, folder.path() / "provhost-steady.so");
  install(live_v1, live);
  CHECK(described(registry.rescan({folder.path()})) ==
        std::vector<std::string>{"added provhost-live.so Live 1.0", "added provhost-steady.so Steady 1.0"});
  const ProviderPtr first = registry.find("Live");
  const std::shared_ptr<const RegistrySnapshot> before = registry.snapshot();
  CHECK(registry.rescan({folder.path()}).empty());
  CHECK(registry.find("Live") == first);  // unchanged: not loaded again

  install(live_v2, live);
  CHECK(described(registry.rescan({folder.path()})) ==
        std::vector<std::string>{"replaced provhost-live.so Live 2.0 was 1.0"});
  CHECK(registry.find("Live")->meta.version == "2.0");
  // What was handed out before is whole: the old snapshot, and the old version's metadata and code.
  CHECK(before->find("Live") == first);
  CHECK(first->meta.version == "1.0");
  REQUIRE(first->abi);
  CHECK(first->abi != registry.find("Live")->abi);  // two libraries, not the first one found again

  provhost::test::TempDir scratch;
  install(scratch.write("broken", "not a library"), live);
  CHECK(described(registry.rescan({folder.path()})) ==
        std::vector<std::string>{"rejected provhost-live.so Live 2.0 because not loadable"});
  CHECK(registry.find("Live")->meta.version == "2.0");  // the old one goes on
  REQUIRE(registry.rejected().size() == 1);
  CHECK(registry.rejected()[0].file == live);

  fs::remove(live);
  CHECK(described(registry.rescan({folder.path()})) == std::vector<std::string>{"removed provhost-live.so Live 2.0"});
  CHECK_FALSE(registry.find("Live"));
  CHECK(registry.rejected().empty());
  CHECK(registry.snapshot()->generation > before->generation);
}

TEST_CASE("a file still being written keeps what it had until it settles") {
  provhost::test::TempDir folder;
  const fs::path live = folder.path() / "provhost-live.so";
  install(live_v1, live);
  Registry registry;
  registry.pin_versions();
  registry.load({folder.path()});
  install(live_v2, live);
  CHECK(registry.rescan({folder.path()}, {live}).empty());
  CHECK(registry.find("Live")->meta.version == "1.0");
  CHECK(described(registry.rescan({folder.path()})) ==
        std::vector<std::string>{"replaced provhost-live.so Live 2.0 was 1.0"});
}

TEST_CASE("the watcher publishes a file dropped into a watched folder by itself") {
  provhost::test::TempDir folder;
  Registry registry;
  registry.pin_versions();
  registry.load({folder.path()});
  std::mutex mutex;
  std::vector<PluginEvent> seen;
  PluginWatcher watcher(registry, {folder.path()}, WatchOptions{0ms, 50ms},
                        [&](const std::vector<PluginEvent> &events) {
                          std::lock_guard lock(mutex);
                          seen.insert(seen.end(), events.begin(), events.end());
                        });
  install(live_v1, folder.path() / "provhost-live.so");
  // The watcher's callback runs after the registry publishes the file: waiting for the registry
  // alone would look at the events before the callback may have run.
  CHECK(provhost::test::eventually(
      [&] {
        std::lock_guard lock(mutex);
        return !seen.empty();
      },
      10s));
  CHECK(registry.find("Live") != nullptr);
  std::lock_guard lock(mutex);
  CHECK(described(seen) == std::vector<std::string>{"added provhost-live.so Live 1.0"});
}

TEST_CASE("a replaced version's lane is retired once its last session ended, not before") {
  using namespace provhost::core::engine;
  provhost::test::TempDir folder;
  const fs::path live = folder.path() / "provhost-live.so";
  install(live_v1, live);
  Registry registry;
  registry.pin_versions();
  registry.load({folder.path()});
  std::mutex mutex;
  std::condition_variable woken;
  int wakes = 0;
  auto backend = make_in_process_backend(registry, [&] {
    std::lock_guard lock(mutex);
    ++wakes;
    woken.notify_all();
  });
  auto &lanes = dynamic_cast<LaneBackend &>(*backend);
  Batch<SessionWork> work;
  SessionWork &open = work.add();
  open.kind = SessionWork::Kind::open;
  open.session = 1;
  open.provider = "Live";
  open.plugin = registry.find("Live");
  open.model = "go";
  open.spec.messages = {{"user", "Hello"}};
  backend->submit(work);
  REQUIRE(lanes.lanes() == 1);

  install(live_v2, live);
  REQUIRE(registry.rescan({folder.path()}).size() == 1);
  backend->submit(work);  // nothing to do, but the backend looks at the registry
  CHECK(lanes.lanes() == 1);
  CHECK(lanes.retired() == 0);  // its session is open

  SessionWork &close = work.add();
  close.kind = SessionWork::Kind::close;
  close.session = 1;
  backend->submit(work);
  CHECK(lanes.lanes() == 0);
  CHECK(lanes.retired() == 1);
  std::unique_lock lock(mutex);
  CHECK(woken.wait_for(lock, 10s, [&] { return wakes > 0; }));
  Batch<SessionResult> results;
  backend->collect(results);
  CHECK(results.size() >= 2);  // opened, then closed: the lane finished its work before it stopped
}

TEST_CASE("a plugin's configured instances are made with it, and again from its new version when it is replaced") {
  provhost::test::TempDir folder;
  const fs::path bundled = fs::path(provhost::test::plugin_dir()) / "provhost-openai_compatible.so";
  const fs::path file = folder.path() / "provhost-openai_compatible.so";
  auto settings = std::make_shared<HostSettings>();
  settings->provider_config = {{"PROVHOST_LOCAL_BASE_URL", "http://127.0.0.1:9/v1"}, {"PROVHOST_LOCAL_MODELS", "tiny"}};
  Registry registry(settings);
  registry.pin_versions();
  install(bundled, file);
  registry.load({folder.path()});
  registry.load_instances({{"OpenAICompatible", "Local"}, {"OpenAICompatible", "Unconfigured"}, {"Nobody", "Orphan"}});
  const ProviderPtr first = registry.find("Local");
  REQUIRE(first);
  CHECK(first->instance == "Local");
  CHECK(first->meta.models == std::vector<std::string>{"tiny"});
  std::vector<std::string> reasons;
  for (const auto &rejected : registry.rejected()) reasons.push_back(rejected.reason);
  REQUIRE(reasons.size() == 2);
  CHECK_THAT(reasons[0] + "\n" + reasons[1], Catch::Contains("\"Unconfigured\"") && Catch::Contains("\"Orphan\""));

  install(bundled, file);  // the same bytes as a new file: a new version
  std::vector<std::string> events = described(registry.rescan({folder.path()}));
  CHECK(std::count_if(events.begin(), events.end(), [](const std::string &event) {
          return event.rfind("replaced provhost-openai_compatible.so Local ", 0) == 0;
        }) == 1);
  const ProviderPtr second = registry.find("Local");
  REQUIRE(second);
  CHECK(second != first);
  CHECK(second->instance == "Local");
  CHECK(second->load_path == registry.find("OpenAICompatible")->load_path);  // the new version's file
}
