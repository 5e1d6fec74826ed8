// Metrics: what serve counts and how /metrics writes it (Prometheus' text format).
#include <catch2/catch.hpp>
#include <provhost/serve/metrics.hpp>
#include <string>

using namespace provhost;
using namespace std::chrono_literals;

TEST_CASE("metrics: requests by endpoint, provider, model and status; timings as cumulative histograms") {
  serve::Metrics metrics;
  metrics.chat_finished("chat.completions", "Koala", "gpt-4o-mini", 200, 0.3s, 0.02s);
  metrics.chat_finished("chat.completions", "Koala", "gpt-4o-mini", 200, 0.7s, 0.2s);
  metrics.chat_finished("responses", "", "nope", 404, 0.001s, std::nullopt);
  metrics.retried("Koala", core::ErrorKind::rate_limited);
  metrics.fell_back("Ylokh", core::ErrorKind::connection);
  metrics.upstream_error("Ylokh", core::ErrorKind::connection);
  metrics.stream_started();
  metrics.stream_started();
  metrics.stream_ended();
  const std::string text = metrics.text();
  using Catch::Contains;
  CHECK_THAT(text, Contains("# TYPE provhost_requests_total counter\n"));
  CHECK_THAT(text, Contains("provhost_requests_total{endpoint=\"chat.completions\",provider=\"Koala\",model=\"gpt-4o-"
                            "mini\",status=\"200\"} 2\n"));
  CHECK_THAT(text, Contains("provhost_requests_total{endpoint=\"responses\",provider=\"none\",model=\"nope\","
                            "status=\"404\"} 1\n"));
  CHECK_THAT(text, Contains("# TYPE provhost_request_duration_seconds histogram\n"));
  CHECK_THAT(text, Contains("provhost_request_duration_seconds_bucket{provider=\"Koala\",le=\"0.25\"} 0\n"));
  CHECK_THAT(text, Contains("provhost_request_duration_seconds_bucket{provider=\"Koala\",le=\"0.5\"} 1\n"));
  CHECK_THAT(text, Contains("provhost_request_duration_seconds_bucket{provider=\"Koala\",le=\"1\"} 2\n"));
  CHECK_THAT(text, Contains("provhost_request_duration_seconds_bucket{provider=\"Koala\",le=\"+Inf\"} 2\n"));
  CHECK_THAT(text, Contains("provhost_request_duration_seconds_sum{provider=\"Koala\"} 1\n"));
  CHECK_THAT(text, Contains("provhost_request_duration_seconds_count{provider=\"Koala\"} 2\n"));
  CHECK_THAT(text, Contains("provhost_time_to_first_token_seconds_count{provider=\"Koala\"} 2\n"));
  CHECK(text.find("provhost_time_to_first_token_seconds_count{provider=\"none\"}") == std::string::npos);
  CHECK_THAT(text, Contains("provhost_retries_total{provider=\"Koala\",kind=\"rate_limited\"} 1\n"));
  CHECK_THAT(text, Contains("provhost_fallbacks_total{provider=\"Ylokh\",kind=\"connection\"} 1\n"));
  CHECK_THAT(text, Contains("provhost_upstream_errors_total{provider=\"Ylokh\",kind=\"connection\"} 1\n"));
  CHECK_THAT(text, Contains("provhost_streams_in_flight 1\n"));
}

TEST_CASE("metrics: label values from plugins and clients are escaped, and their number is capped") {
  serve::Metrics metrics(3);
  metrics.chat_finished("chat.completions", "Evil\"}\nfake_metric 1", "a\\b", 200, 1s, std::nullopt);
  for (int i = 0; i < 10; ++i)
    metrics.chat_finished("chat.completions", "P", "model-" + std::to_string(i), 200, 1s, {});
  const std::string text = metrics.text();
  CHECK_THAT(text, Catch::Contains("provider=\"Evil\\\"}\\nfake_metric 1\",model=\"a\\\\b\""));
  CHECK(text.find("\nfake_metric") == std::string::npos);
  // Three series in all: Evil's request and duration, then P's first request; the rest is "other".
  CHECK_THAT(text, Catch::Contains("provhost_requests_total{endpoint=\"chat.completions\",provider=\"P\","
                                   "model=\"model-0\",status=\"200\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("provhost_requests_total{endpoint=\"chat.completions\",provider=\"other\","
                                   "model=\"other\",status=\"200\"} 9\n"));
}

TEST_CASE("metrics: plugin worker crashes by provider and cause, and restarts, as core counts them") {
  core::WorkerCounts counts;
  counts.crashes[{"BodySegv", "signal"}] = 2;
  counts.crashes[{"Odd\"Name\n", "hang"}] = 1;
  counts.restarts["BodySegv"] = 1;
  serve::Metrics metrics(1000, [&] { return counts; });
  const std::string text = metrics.text();
  using Catch::Contains;
  CHECK_THAT(text, Contains("# TYPE provhost_plugin_worker_crashes_total counter\n"
                            "provhost_plugin_worker_crashes_total{provider=\"BodySegv\",cause=\"signal\"} 2\n"
                            "provhost_plugin_worker_crashes_total{provider=\"Odd\\\"Name\\n\",cause=\"hang\"} 1\n"));
  CHECK_THAT(text, Contains("# TYPE provhost_plugin_worker_restarts_total counter\n"
                            "provhost_plugin_worker_restarts_total{provider=\"BodySegv\"} 1\n"));

  // Core's own counters, which the default Metrics reads: a provider no other test uses.
  auto before = core::worker_counts();
  core::count_worker_crash("MetricsTestProvider", core::WorkerCrash::memory);
  core::count_worker_crash("MetricsTestProvider", core::WorkerCrash::memory);
  core::count_worker_restart("MetricsTestProvider");
  auto after = core::worker_counts();
  CHECK(after.crashes[{"MetricsTestProvider", "memory"}] - before.crashes[{"MetricsTestProvider", "memory"}] == 2);
  CHECK(after.restarts["MetricsTestProvider"] - before.restarts["MetricsTestProvider"] == 1);
  CHECK_THAT(serve::Metrics().text(),
             Contains("provhost_plugin_worker_crashes_total{provider=\"MetricsTestProvider\",cause=\"memory\"} "));
}
