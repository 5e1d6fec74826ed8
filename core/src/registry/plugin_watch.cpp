// The watcher's loop: wait for a sign (the system's report of a change, the rescan period, an
// asked rescan), compare the folders with the registry's snapshot, and rescan once the files that
// changed have settled. A file keeps its old state (absent, or its old version) while it settles.
#include <algorithm>
#include <atomic>
#include <map>
#include <provhost/core/plugin_loader.hpp>
#include <provhost/core/plugin_watch.hpp>
#include <thread>

#include "platform.hpp"

namespace provhost::core {
namespace {

using Clock = std::chrono::steady_clock;

// A version of a file and when this watcher first saw it.
struct Sighting {
  FileVersion version;
  Clock::time_point since;
};

}  // namespace

struct PluginWatcher::State {
  State(Registry &registry, std::vector<std::filesystem::path> folders, WatchOptions options, OnEvents on_events)
      : registry(registry),
        folders(std::move(folders)),
        options(options),
        on_events(std::move(on_events)),
        changes(this->folders) {}

  void run();
  // Compares the folders with the snapshot; rescans what settled. The next look's time.
  Clock::time_point look(bool forced);

  Registry &registry;
  const std::vector<std::filesystem::path> folders;
  const WatchOptions options;
  const OnEvents on_events;
  platform::FolderChanges changes;
  std::atomic<bool> stopping{false};
  std::atomic<bool> rescan_asked{false};
  std::map<std::filesystem::path, Sighting> sightings;  // files changed but not yet settled
  std::thread thread;
};

Clock::time_point PluginWatcher::State::look(bool forced) {
  const Clock::time_point now = Clock::now();
  const auto wall_now = std::chrono::system_clock::now().time_since_epoch();
  std::map<std::filesystem::path, FileVersion> known;
  for (const auto &file : registry.snapshot()->files) known.emplace(file.file, file.version);

  size_t changed = 0;
  std::vector<std::filesystem::path> unsettled;
  std::map<std::filesystem::path, Sighting> still;
  Clock::time_point next = Clock::time_point::max();
  for (const auto &folder : folders) {
    for (const auto &path : plugin_files(folder)) {
      std::string error;
      std::optional<platform::FileIdentity> identity = platform::file_identity(path, error);
      if (!identity) continue;
      FileVersion version{identity->device, identity->file, identity->size, identity->mtime_ns};
      auto found = known.find(path);
      bool same = found != known.end() && found->second == version;
      if (found != known.end()) known.erase(found);
      if (same) continue;
      ++changed;
      // Settled: seen unchanged for the settle time, or not modified for that long (a file moved
      // in whole was written before it arrived).
      Sighting sighting{version, now};
      if (auto earlier = sightings.find(path); earlier != sightings.end() && earlier->second.version == version)
        sighting.since = earlier->second.since;
      auto unmodified_for = wall_now - std::chrono::nanoseconds(version.mtime_ns);
      if (now - sighting.since >= options.settle || unmodified_for >= options.settle) continue;
      unsettled.push_back(path);
      next = std::min(next, sighting.since + options.settle);
      still.emplace(path, sighting);
    }
  }
  sightings = std::move(still);
  // What is left of `known` is gone from the folders: removed at once, nothing to settle.
  if (forced || !known.empty() || changed > unsettled.size()) {
    std::vector<PluginEvent> events = registry.rescan(folders, unsettled);
    if (!events.empty() && on_events) on_events(events);
  }
  return next;
}

void PluginWatcher::State::run() {
  auto after_period = [this](Clock::time_point from) {
    return options.rescan_period.count() > 0 ? from + options.rescan_period : Clock::time_point::max();
  };
  Clock::time_point next_rescan = after_period(Clock::now());
  Clock::time_point next_settle = Clock::time_point::max();
  while (!stopping) {
    Clock::time_point wake_at = std::min(next_rescan, next_settle);
    auto timeout = wake_at == Clock::time_point::max()
                       ? std::chrono::milliseconds(-1)
                       : std::max(std::chrono::milliseconds(0),
                                  std::chrono::ceil<std::chrono::milliseconds>(wake_at - Clock::now()));
    bool signalled = changes.wait(timeout);
    if (stopping) break;
    Clock::time_point now = Clock::now();
    bool due = now >= next_rescan || now >= next_settle;
    if (!signalled && !due) continue;
    if (now >= next_rescan) next_rescan = after_period(now);
    next_settle = look(rescan_asked.exchange(false));
  }
}

PluginWatcher::PluginWatcher(Registry &registry, std::vector<std::filesystem::path> folders, WatchOptions options,
                             OnEvents on_events)
    : state_(std::make_unique<State>(registry, std::move(folders), options, std::move(on_events))) {
  state_->thread = std::thread([state = state_.get()] { state->run(); });
}

PluginWatcher::~PluginWatcher() {
  state_->stopping = true;
  state_->changes.wake();
  state_->thread.join();
}

void PluginWatcher::rescan() {
  state_->rescan_asked = true;
  state_->changes.wake();
}

}  // namespace provhost::core
