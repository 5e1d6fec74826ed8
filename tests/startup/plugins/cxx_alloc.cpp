// CxxAlloc: a C++ plugin (the C++ library linked in, as provhost_add_plugin builds it) whose session
// asks operator new for 2 GiB when it opens, more than a worker's default memory limit of 1 GiB. Its
// operator new is its own copy's, so the worker's new handler is not it: what ends the worker as
// "over its memory limit" is the worker's malloc, which every copy's operator new calls.
#include <memory>
#include <provhost/provider.hpp>

namespace {

using namespace provhost;

ProviderInfo alloc_info() {
  return {.name = "CxxAlloc",
          .description = "Allocates 2 GiB with new when a session opens",
          .url = "https://alloc.example.com",
          .default_model = "alloc-1",
          .models = {"alloc-1"},
          .aliases = {},
          .capabilities = {}};
}

class AllocSession : public Session {
 public:
  AllocSession(const ChatRequest &, Events events, const ProviderContext &)
      : Session(events), memory_(std::make_unique<char[]>(std::size_t{2} << 30)) {}

  std::optional<HttpRequest> next_request() override { return std::nullopt; }
  void on_body(std::string_view) override {}

 private:
  std::unique_ptr<char[]> memory_;  // zeroed, so that the pages are really asked for
};

}  // namespace

using CxxAlloc = SimpleProvider<AllocSession, alloc_info>;
PROVHOST_PLUGIN(CxxAlloc)
