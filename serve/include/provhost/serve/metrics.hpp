// metrics.hpp: what `serve` counts, for GET /metrics in Prometheus' text format (version 0.0.4).
// Written by the I/O thread (requests, timings) and the engine's thread (retries, fallbacks), read
// by a scrape; one mutex, held only to add a number or to copy them out.
//
// Label values come from plugins (provider and model names) and clients (models asked for), so
// they are escaped as the format requires, and the number of series is capped: past
// `max_series` distinct label sets, new ones are counted under provider="other", model="other".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <provhost/core/error.hpp>
#include <provhost/core/worker_stats.hpp>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace provhost::serve {

class Metrics {
 public:
  // `worker_counts`: the plugin workers' crashes and restarts (core's process backend counts them, process-wide).
  explicit Metrics(std::size_t max_series = 1000,
                   std::function<core::WorkerCounts()> worker_counts = core::worker_counts)
      : max_series_(max_series), worker_counts_(std::move(worker_counts)) {}

  // One chat request answered: its endpoint ("chat.completions", "responses"), who answered (or
  // failed last), the HTTP status, and its timings (first_token: none when no text came).
  void chat_finished(std::string_view endpoint, std::string_view provider, std::string_view model, int status,
                     std::chrono::duration<double> total, std::optional<std::chrono::duration<double>> first_token);
  void stream_started() { add_gauge(1); }
  void stream_ended() { add_gauge(-1); }
  void retried(std::string_view provider, core::ErrorKind kind);
  void fell_back(std::string_view provider, core::ErrorKind kind);
  void upstream_error(std::string_view provider, core::ErrorKind kind);
  // A plugin file added, replaced, removed or rejected while serving (live plugin folders).
  void plugin_event(std::string_view kind);

  // The exposition: every metric with its HELP and TYPE lines, series sorted.
  std::string text() const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative counts are computed when written
    double sum = 0;
    uint64_t count = 0;
  };
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // `labels`, or the same names with "other" values once max_series sets are known.
  Labels admit(Labels labels);
  void count(std::map<Labels, uint64_t> &counter, Labels labels);
  void observe(std::map<Labels, Histogram> &histogram, Labels labels, double seconds);
  void add_gauge(int delta);

  const std::size_t max_series_;
  const std::function<core::WorkerCounts()> worker_counts_;
  mutable std::mutex mutex_;
  std::map<Labels, bool> known_;  // every label set admitted so far
  std::map<Labels, uint64_t> requests_, retries_, fallbacks_, upstream_errors_, plugin_events_;
  std::map<Labels, Histogram> first_token_, duration_;
  int64_t streams_in_flight_ = 0;
};

}  // namespace provhost::serve
