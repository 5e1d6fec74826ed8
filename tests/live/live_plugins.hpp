// live_plugins.hpp: the test plugins of tests/live (Live 1.0, Live 2.0, Steady; built by
// tests/live/CMakeLists.txt) and the way a plugin is meant to be dropped into a watched folder.
#pragma once

#include <filesystem>

namespace provhost::live_test {

namespace fs = std::filesystem;

inline const fs::path plugins = LIVE_PLUGINS;
inline const fs::path live_v1 = plugins / "v1" / "provhost-live.so";
inline const fs::path live_v2 = plugins / "v2" / "provhost-live.so";
inline const fs::path steady = plugins / "steady" / "provhost-steady.so";

// Copies under a temporary name in the same folder, then renames: the watcher never sees half a file.
inline void install(const fs::path &from, const fs::path &to) {
  fs::path temporary = to.parent_path() / (".incoming-" + to.filename().string());
  fs::copy_file(from, temporary, fs::copy_options::overwrite_existing);
  fs::rename(temporary, to);
}

}  // namespace provhost::live_test
