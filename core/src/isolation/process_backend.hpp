// process_backend.hpp: the SessionBackend whose sessions run in worker processes, one per
// provider. See process_backend.cpp.
#pragma once

#include <functional>
#include <memory>
#include <provhost/core/isolation.hpp>
#include <provhost/core/registry.hpp>

#include "../engine/session_backend.hpp"

namespace provhost::core::engine {

// Sessions of `registry`'s providers, each provider version's in a worker process started on its
// first session (and again, with backoff, after it died); a version the registry replaced or
// dropped has its worker stopped once its last session ended. `wake` is called from the lanes'
// threads.
std::unique_ptr<SessionBackend> make_process_backend(const Registry &registry, const IsolationOptions &options,
                                                     std::function<void()> wake);

}  // namespace provhost::core::engine
