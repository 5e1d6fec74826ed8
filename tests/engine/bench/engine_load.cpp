// provhost-engine-load: the CPU one Engine spends per chat with N chats in flight at once (figures,
// not pass/fail; scripts/bench engine runs it against the emulator).
//
//   provhost-engine-load --plugin-dir DIR --upstream http://127.0.0.1:PORT --chats N [--rounds R]
//                        [--provider Ylokh] [--isolation none|process]
//
// Each round submits N chats at once to one engine and runs it until all have ended; the figure is
// the process's CPU time (getrusage: the engine's thread, the plugins' threads, the sinks) over the
// rounds, divided by the chats. The emulator runs in another process, so its work is not counted,
// and so do the plugin workers of --isolation process (the default is none, plugins in this
// process): count those with perf stat or strace -f, which follow them.
// Every chat must end with on_done and the same text as the first one, or the run fails.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <provhost/core/chat.hpp>
#include <string>
#include <vector>

namespace {

using namespace provhost::core;

struct Settings {
  std::string plugin_dir;
  std::string upstream;
  std::string provider = "Ylokh";
  size_t chats = 1;
  size_t rounds = 1;
  bool isolated = false;
};

[[noreturn]] void usage(const std::string &problem) {
  std::fprintf(stderr,
               "provhost-engine-load: %s\nusage: provhost-engine-load --plugin-dir DIR --upstream URL --chats N "
               "[--rounds R] [--provider NAME] [--isolation none|process]\n",
               problem.c_str());
  std::exit(2);
}

size_t positive(const char *option, const char *text) {
  char *end = nullptr;
  unsigned long long value = std::strtoull(text, &end, 10);
  if (*end || value == 0 || text[0] == '-') usage(std::string(option) + " needs a number > 0, got \"" + text + "\"");
  return static_cast<size_t>(value);
}

Settings parse(int argc, char **argv) {
  Settings settings;
  for (int i = 1; i < argc; ++i) {
    std::string option = argv[i];
    if (i + 1 >= argc) usage(option + " needs a value");
    const char *value = argv[++i];
    if (option == "--plugin-dir") {
      settings.plugin_dir = value;
    } else if (option == "--upstream") {
      settings.upstream = value;
    } else if (option == "--provider") {
      settings.provider = value;
    } else if (option == "--chats") {
      settings.chats = positive("--chats", value);
    } else if (option == "--rounds") {
      settings.rounds = positive("--rounds", value);
    } else if (option == "--isolation") {
      if (std::strcmp(value, "none") != 0 && std::strcmp(value, "process") != 0)
        usage(std::string("--isolation is none or process, got \"") + value + "\"");
      settings.isolated = std::strcmp(value, "process") == 0;
    } else {
      usage("unknown option " + option);
    }
  }
  if (settings.plugin_dir.empty() || settings.upstream.empty()) usage("--plugin-dir and --upstream are required");
  return settings;
}

// Counts what one chat received; the engine calls it on its own thread only.
class CountingSink final : public ChatSink {
 public:
  void on_text(std::string_view text) override { text_.append(text); }
  void on_done() override { done_ = true; }
  void on_error(const ChatError &error) override { error_ = error.message(); }
  bool done() const { return done_; }
  const std::string &text() const { return text_; }
  const std::string &error() const { return error_; }

 private:
  std::string text_;
  std::string error_;
  bool done_ = false;
};

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval &t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Each chat holds a socket; the soft limit is raised as far as the hard one allows.
void raise_file_limit(size_t chats) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  rlim_t wanted = static_cast<rlim_t>(chats) * 2 + 256;
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

int main(int argc, char **argv) {
  Settings settings = parse(argc, argv);
  raise_file_limit(settings.chats);
  Registry registry;
  if (settings.isolated) registry.use_isolation(IsolationOptions{});  // the worker next to this executable
  registry.load({settings.plugin_dir});
  if (!registry.find(settings.provider)) usage("no provider " + settings.provider + " in " + settings.plugin_dir);
  EngineOptions options;
  options.upstreams[settings.provider] = settings.upstream;
  Engine engine(registry, options);

  ChatSpec spec;
  spec.provider = settings.provider;
  spec.messages = {{"user", "Hello"}};

  std::string expected;
  double cpu = 0, wall = 0;
  size_t bytes = 0;
  for (size_t round = 0; round < settings.rounds; ++round) {
    std::vector<std::shared_ptr<CountingSink>> sinks;
    sinks.reserve(settings.chats);
    double cpu_before = cpu_seconds();
    auto wall_before = std::chrono::steady_clock::now();
    for (size_t i = 0; i < settings.chats; ++i) {
      sinks.push_back(std::make_shared<CountingSink>());
      engine.submit(spec, sinks.back());
    }
    engine.run_until_idle();
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
    cpu += cpu_seconds() - cpu_before;
    for (const auto &sink : sinks) {
      if (!sink->done()) {
        std::fprintf(stderr, "provhost-engine-load: a chat failed: %s\n", sink->error().c_str());
        return 1;
      }
      if (expected.empty()) expected = sink->text();
      if (sink->text() != expected || expected.empty()) {
        std::fprintf(stderr, "provhost-engine-load: a chat's text differs from the others'\n");
        return 1;
      }
      bytes += sink->text().size();
    }
  }
  size_t total = settings.chats * settings.rounds;
  std::printf("%zu concurrent chats x %zu rounds: %.1f us CPU per chat, %.2f ms wall per round, %zu text bytes\n",
              settings.chats, settings.rounds, cpu / static_cast<double>(total) * 1e6,
              wall / static_cast<double>(settings.rounds) * 1e3, bytes);
  return 0;
}
