// InProcessBackend: plugin sessions on plugin threads of this process, one lane per provider. The
// engine's thread only queues work and collects results; a slow plugin delays its own chats'
// results, never the transfers or the sessions of the others.
#include "lane_backend.hpp"
#include "session_runner.hpp"

namespace provhost::core::engine {
namespace {

class PluginThread final : public ThreadLane {
 public:
  PluginThread(ProviderPtr provider, Outbox &outbox) : ThreadLane(outbox), runner_(std::move(provider)) { start(); }
  ~PluginThread() override { stop(); }

 private:
  void process(Batch<SessionWork> &working, Batch<SessionResult> &produced) override { runner_.run(working, produced); }
  void finish() override { runner_.close_all(); }

  SessionRunner runner_;
};

}  // namespace

std::unique_ptr<SessionBackend> make_in_process_backend(const Registry &registry, std::function<void()> wake) {
  return std::make_unique<LaneBackend>(
      registry, std::move(wake),
      [](const ProviderPtr &provider, const std::string &, Outbox &outbox) {
        return std::make_unique<PluginThread>(provider, outbox);
      },
      false);
}

}  // namespace provhost::core::engine
