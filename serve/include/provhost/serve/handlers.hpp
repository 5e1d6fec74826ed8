// handlers.hpp: one handler per endpoint of the server's route table (src/handlers/, a file each).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <provhost/serve/catalog.hpp>
#include <provhost/serve/chat_bridge.hpp>
#include <provhost/serve/metrics.hpp>
#include <provhost/serve/router.hpp>
#include <string>

namespace provhost::serve {

// POST /v1/chat/completions: the body becomes a chat for the engine, answered through a ChatBridge.
// Tools and response formats go only to the candidates `resolve` finds that declare them
// (route_gated_parameters). With `drop_unsupported_params`, parameters no candidate delivers
// (ChatRequest::unsupported) are ignored and logged as a warning; without, they are a 400 unsupported_parameter.
RouteHandler chat_completions_handler(SubmitChat submit, ResolveCandidates resolve, ChatBridge::Settings settings,
                                      bool drop_unsupported_params);

// POST /v1/responses: the same chat, read and answered in the Responses API's shape (responses.hpp).
RouteHandler responses_handler(SubmitChat submit, ResolveCandidates resolve, ChatBridge::Settings settings,
                               bool drop_unsupported_params);

// GET /v1/models: the current catalog's model list.
RouteHandler models_handler(std::shared_ptr<const LiveCatalog> catalog);
// GET /v1/models/{id} (percent-decoded; ids may hold '/', as "Provider/model" does): the current catalog's
// object for the model, or a 404.
RouteHandler model_handler(std::shared_ptr<const LiveCatalog> catalog);

// GET /v1/providers: what `list --json` prints, for the current catalog.
RouteHandler providers_handler(std::shared_ptr<const LiveCatalog> catalog);

// GET /metrics: the counters in Prometheus' text format.
RouteHandler metrics_handler(std::shared_ptr<const Metrics> metrics);

// GET /health: 200 {"status":"ok"}, or 503 {"status":"draining"} once shutdown has begun, so a
// load balancer stops sending work.
RouteHandler health_handler(std::function<bool()> draining);

// GET /health/ready: whether new work should come here, for a load balancer's health check: 200
// {"status":"ready"}; 503 while draining, or when no working provider is loaded (a request without
// Provider/model could not be answered).
RouteHandler health_ready_handler(std::function<bool()> draining, std::shared_ptr<const LiveCatalog> catalog);

}  // namespace provhost::serve
