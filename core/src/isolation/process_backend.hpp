// process_backend.hpp: the SessionBackend whose sessions run in worker processes, one per
// provider. See process_backend.cpp.
#pragma once

#include <memory>
#include <provhost/core/isolation.hpp>
#include <provhost/core/registry.hpp>

#include "../engine/deadlines.hpp"
#include "../engine/session_backend.hpp"

namespace provhost::core::engine {

// Sessions of `registry`'s providers, each provider version's in a worker process started on its
// first session (and again, with backoff, after it died); a version the registry replaced or
// dropped has its worker stopped once its last session ended. Everything runs on the engine's
// thread: it polls the workers' sockets (SessionBackend::watch, ready) and arms their call
// timeouts in `deadlines` (DeadlineKind::backend).
std::unique_ptr<SessionBackend> make_process_backend(const Registry &registry, const IsolationOptions &options,
                                                     DeadlineQueue &deadlines);

}  // namespace provhost::core::engine
