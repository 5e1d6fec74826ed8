#include <provhost/testing/contract.hpp>
#include <provhost/testing/session.hpp>

namespace provhost::testing {
namespace {

std::string plan_text(const std::vector<size_t> &plan) {
  if (plan.size() > 2) return "byte by byte";
  std::string text = "cut at";
  for (size_t cut : plan) {
    text += ' ';
    text += std::to_string(cut);
  }
  return text;
}

}  // namespace

SplitReport check_splits(const ph_provider &provider, const Chat &chat, const Responder &responder,
                         size_t three_way_limit, const Checks &checks, size_t max_problems) {
  SplitReport report;
  auto problem = [&](std::string line) {
    if (report.problems.size() < max_problems) report.problems.push_back(std::move(line));
  };
  // The whole run also tells which bodies there are to cut: one per request answered.
  std::vector<std::string> bodies;
  const Responder recording = [&](const Request &request, size_t index) {
    std::optional<Response> response = responder(request, index);
    if (response && index == bodies.size()) bodies.push_back(response->body);
    return response;
  };
  report.whole = run_chat(provider, chat, recording, {}, checks);
  ++report.runs;
  for (const std::string &violation : report.whole.violations) problem("whole: " + violation);

  for (size_t target = 0; target < bodies.size(); ++target) {
    for (const std::vector<size_t> &plan : cut_plans(bodies[target].size(), three_way_limit)) {
      const CutPlanner cuts = [&](size_t index, const std::string &) {
        return index == target ? plan : std::vector<size_t>{};
      };
      Run run = run_chat(provider, chat, responder, cuts, checks);
      ++report.runs;
      const std::string where = "response " + std::to_string(target + 1) + " " + plan_text(plan) + ": ";
      for (const std::string &violation : run.violations) problem(where + violation);
      if (!run.outcome.same_answer(report.whole.outcome))
        problem(where + run.outcome.summary() + ", whole: " + report.whole.outcome.summary());
      if (report.problems.size() >= max_problems) return report;
    }
  }
  return report;
}

}  // namespace provhost::testing
