// catalog.hpp: what GET /v1/models, /v1/models/{id}, /v1/providers and /health/ready answer. Computed from a
// registry snapshot, and replaced whole when the plugin folders change (live plugin folders), so
// a request reads one consistent catalog whatever happens meanwhile.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace provhost::serve {

struct Catalog {
  std::string models_json;                                             // GET /v1/models
  std::string providers_json;                                          // GET /v1/providers, as `list --json`
  bool any_working_provider = true;                                    // GET /health/ready
  std::map<std::string, std::string, std::less<>> model_objects = {};  // GET /v1/models/{id}, by id
};

// The current catalog; read on the server's thread, replaced from any thread.
class LiveCatalog {
 public:
  explicit LiveCatalog(Catalog initial) : current_(std::make_shared<const Catalog>(std::move(initial))) {}
  std::shared_ptr<const Catalog> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void set(Catalog next) {
    auto replacement = std::make_shared<const Catalog>(std::move(next));
    std::lock_guard lock(mutex_);
    current_.swap(replacement);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Catalog> current_;
};

}  // namespace provhost::serve
