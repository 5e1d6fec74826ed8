#include <charconv>
#include <cstdio>
#include <provhost/serve/access_log.hpp>
#include <provhost/text.hpp>

namespace provhost::serve {

void write_to_stderr(std::string_view line) { std::fwrite(line.data(), 1, line.size(), stderr); }

namespace {

// Appends without a temporary: a line is written for every request. The text goes in whole and is
// then mended in place, a loop the compiler vectorises, where a push_back per character checked the
// string's capacity each time.
void append_printable(std::string &out, std::string_view text, std::size_t limit = 200) {
  if (text.empty()) {
    out.push_back('-');
    return;
  }
  const std::size_t start = out.size();
  out.append(text.substr(0, limit));
  for (auto it = out.begin() + static_cast<std::ptrdiff_t>(start); it != out.end(); ++it) {
    if (*it <= 0x20 || *it >= 0x7f) *it = '?';
  }
}

}  // namespace

std::string printable(std::string_view text, std::size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit));
  append_printable(out, text, limit);
  return out;
}

std::string escaped(std::string_view text) { return one_line(text, true); }

std::string access_line(const ExchangeSummary &summary) {
  auto field = [&](std::size_t i) {
    return i < summary.log_fields.size() ? std::string_view(summary.log_fields[i]) : std::string_view();
  };
  std::string line;
  line.reserve(96 + summary.path.size() + summary.request_id.size() + summary.note.size());
  line += "provhost serve: ";
  append_printable(line, summary.method);
  line.push_back(' ');
  append_printable(line, summary.path);
  line.push_back(' ');
  line += std::to_string(summary.status);
  line.push_back(' ');
  append_printable(line, field(0));
  line.push_back(' ');
  append_printable(line, field(1));
  line.push_back(' ');
  char ms[32];
  auto written = std::to_chars(ms, ms + sizeof ms, std::chrono::duration<double, std::milli>(summary.elapsed).count(),
                               std::chars_format::fixed, 1);
  line.append(ms, written.ec == std::errc() ? written.ptr : ms);
  line += "ms ";
  append_printable(line, summary.request_id);
  if (!summary.note.empty()) {
    line.push_back(' ');
    line += summary.note;
  }
  line.push_back('\n');
  return line;
}

std::string warning_line(std::string_view peer, std::string_view request_id, std::string_view provider,
                         std::string_view message) {
  return "provhost serve: warning: " + printable(peer) + " " + printable(request_id) + " " + printable(provider) +
         ": " + escaped(message) + "\n";
}

std::string plugin_access_line(const core::PluginEvent &event) {
  return "provhost serve: PLUGIN " + printable(event.file.string(), 1024) + " " + core::to_string(event.kind) + " " +
         printable(event.provider) + " " + printable(event.version) + "\n";
}

std::string plugin_event_line(const core::PluginEvent &event) {
  std::string line = "provhost serve: plugin " + std::string(core::to_string(event.kind)) + ": ";
  const std::string who = escaped(event.provider) + " " + escaped(event.version);
  const std::string file = escaped(event.file.string());
  switch (event.kind) {
    case core::PluginEvent::Kind::added:
      line += who + " from " + file;
      break;
    case core::PluginEvent::Kind::replaced:
      line += who + " (was " + escaped(event.previous_version) + ") from " + file;
      break;
    case core::PluginEvent::Kind::removed:
      line += who + " (" + file + " is gone); its chats in flight finish";
      break;
    case core::PluginEvent::Kind::rejected:
      line += file + ": " + escaped(event.reason);
      if (!event.provider.empty()) line += "; " + who + " goes on serving";
      break;
  }
  return line + "\n";
}

}  // namespace provhost::serve
