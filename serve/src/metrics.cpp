#include <array>
#include <cmath>
#include <provhost/serve/metrics.hpp>
#include <sstream>

namespace provhost::serve {
namespace {

// Seconds: from a fast local answer to a long stream.
constexpr std::array<double, 14> bucket_bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

// A label value as the text format wants it: backslash, double quote and newline escaped. Other
// control bytes would break nothing but a terminal; they are dropped.
std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) {
      out += c;
    }
  }
  return out;
}

std::string label_text(const std::vector<std::pair<std::string, std::string>> &labels, std::string_view extra = {}) {
  std::string out;
  for (const auto &[name, value] : labels) {
    out += out.empty() ? "{" : ",";
    out += name + "=\"" + escape_label(value) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "{" : ",") + std::string(extra);
  if (!out.empty()) out += "}";
  return out;
}

std::string number(double value) {
  std::ostringstream out;
  out.precision(9);
  out << value;
  return out.str();
}

}  // namespace

Metrics::Labels Metrics::admit(Labels labels) {
  // Looked up before anything is inserted: an emplace of a set already known still builds (and
  // throws away) a copy of it, at every request.
  if (known_.count(labels)) return labels;
  if (known_.size() < max_series_) {
    known_.emplace(labels, true);
    return labels;
  }
  for (auto &[name, value] : labels) {
    if (name == "provider" || name == "model") value = "other";
  }
  known_.emplace(labels, true);
  return labels;
}

void Metrics::count(std::map<Labels, uint64_t> &counter, Labels labels) { ++counter[admit(std::move(labels))]; }

void Metrics::observe(std::map<Labels, Histogram> &histogram, Labels labels, double seconds) {
  Histogram &h = histogram[admit(std::move(labels))];
  if (h.buckets.empty()) h.buckets.resize(bucket_bounds.size());
  for (std::size_t i = 0; i < bucket_bounds.size(); ++i) {
    if (seconds <= bucket_bounds[i]) {
      ++h.buckets[i];
      break;
    }
  }
  h.sum += seconds;
  ++h.count;
}

void Metrics::add_gauge(int delta) {
  std::lock_guard lock(mutex_);
  streams_in_flight_ += delta;
}

void Metrics::chat_finished(std::string_view endpoint, std::string_view provider, std::string_view model, int status,
                            std::chrono::duration<double> total,
                            std::optional<std::chrono::duration<double>> first_token) {
  std::lock_guard lock(mutex_);
  std::string who(provider.empty() ? "none" : provider);
  count(requests_, {{"endpoint", std::string(endpoint)},
                    {"provider", who},
                    {"model", std::string(model)},
                    {"status", std::to_string(status)}});
  observe(duration_, {{"provider", who}}, total.count());
  if (first_token) observe(first_token_, {{"provider", who}}, first_token->count());
}

void Metrics::retried(std::string_view provider, core::ErrorKind kind) {
  std::lock_guard lock(mutex_);
  count(retries_, {{"provider", std::string(provider)}, {"kind", std::string(core::info(kind).name)}});
}

void Metrics::fell_back(std::string_view provider, core::ErrorKind kind) {
  std::lock_guard lock(mutex_);
  count(fallbacks_, {{"provider", std::string(provider)}, {"kind", std::string(core::info(kind).name)}});
}

void Metrics::upstream_error(std::string_view provider, core::ErrorKind kind) {
  std::lock_guard lock(mutex_);
  count(upstream_errors_, {{"provider", std::string(provider)}, {"kind", std::string(core::info(kind).name)}});
}

void Metrics::plugin_event(std::string_view kind) {
  std::lock_guard lock(mutex_);
  count(plugin_events_, {{"event", std::string(kind)}});
}

std::string Metrics::text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto counter = [&](const char *name, const char *help, const std::map<Labels, uint64_t> &series) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto &[labels, value] : series) out += name + label_text(labels) + " " + std::to_string(value) + "\n";
  };
  auto histogram = [&](const char *name, const char *help, const std::map<Labels, Histogram> &series) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
    for (const auto &[labels, h] : series) {
      uint64_t cumulative = 0;
      for (std::size_t i = 0; i < bucket_bounds.size(); ++i) {
        cumulative += h.buckets[i];
        out += std::string(name) + "_bucket" + label_text(labels, "le=\"" + number(bucket_bounds[i]) + "\"") + " " +
               std::to_string(cumulative) + "\n";
      }
      out += std::string(name) + "_bucket" + label_text(labels, "le=\"+Inf\"") + " " + std::to_string(h.count) + "\n";
      out += std::string(name) + "_sum" + label_text(labels) + " " + number(h.sum) + "\n";
      out += std::string(name) + "_count" + label_text(labels) + " " + std::to_string(h.count) + "\n";
    }
  };
  counter("provhost_requests_total", "Chat requests answered, by endpoint, provider, model and HTTP status.",
          requests_);
  histogram("provhost_time_to_first_token_seconds", "Seconds from a chat request to its first text, by provider.",
            first_token_);
  histogram("provhost_request_duration_seconds", "Seconds from a chat request to the end of its answer, by provider.",
            duration_);
  counter("provhost_retries_total", "Upstream requests retried, by provider and failure kind.", retries_);
  counter("provhost_fallbacks_total", "Chats that moved on from a failed provider, by provider and failure kind.",
          fallbacks_);
  counter("provhost_upstream_errors_total", "Chats that ended in an error, by the provider that failed and its kind.",
          upstream_errors_);
  counter("provhost_plugin_events_total", "Plugin files added, replaced, removed or rejected while serving, by event.",
          plugin_events_);
  // Counted by core where a worker's end is found out: read at the scrape, outside the label cap (a series per
  // provider and cause at most).
  const core::WorkerCounts workers = worker_counts_();
  std::map<Labels, uint64_t> crashes, restarts;
  for (const auto &[key, value] : workers.crashes) crashes[{{"provider", key.first}, {"cause", key.second}}] = value;
  for (const auto &[provider, value] : workers.restarts) restarts[{{"provider", provider}}] = value;
  counter("provhost_plugin_worker_crashes_total",
          "Plugin worker processes that crashed, by provider and cause (signal, memory, hang, exit, sandbox, "
          "protocol).",
          crashes);
  counter("provhost_plugin_worker_restarts_total", "Plugin worker processes started again after a crash, by provider.",
          restarts);
  out +=
      "# HELP provhost_streams_in_flight Streamed answers being written now.\n"
      "# TYPE provhost_streams_in_flight gauge\n"
      "provhost_streams_in_flight " +
      std::to_string(streams_in_flight_) + "\n";
  return out;
}

}  // namespace provhost::serve
