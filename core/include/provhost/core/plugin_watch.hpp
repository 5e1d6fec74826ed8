// plugin_watch.hpp: live plugin folders. A PluginWatcher keeps a Registry in step with its folders
// while a server runs: a file dropped in is loaded, a replaced one loaded again (its old version
// serves the chats that started on it), a removed one dropped, each as a new registry snapshot.
// It learns of changes from the system (inotify) and from a rescan every `rescan_period`, and a
// rescan can be asked for (SIGHUP in serve). A file still being written is never loaded: it is
// taken only once it has stayed the same for `settle` (the atomic way to drop a plugin in is still
// to copy it under a temporary name in the same folder, then `mv` it to provhost-<name>.so).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <provhost/core/registry.hpp>
#include <vector>

namespace provhost::core {

struct WatchOptions {
  std::chrono::milliseconds rescan_period{10'000};  // 0 = only what the system reports, and asked rescans
  std::chrono::milliseconds settle{500};            // how long a changed file must stay unchanged
};

class PluginWatcher {
 public:
  // Called on the watcher's thread after each rescan that changed something, with what changed.
  using OnEvents = std::function<void(const std::vector<PluginEvent> &events)>;

  // Starts watching at once, on a thread of its own. `registry` must outlive the watcher.
  PluginWatcher(Registry &registry, std::vector<std::filesystem::path> folders, WatchOptions options,
                OnEvents on_events);
  ~PluginWatcher();  // stops and joins the thread
  PluginWatcher(const PluginWatcher &) = delete;
  PluginWatcher &operator=(const PluginWatcher &) = delete;

  // Rescans soon, whether or not anything seems to have changed; thread-safe.
  void rescan();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace provhost::core
