#include <cstdio>
#include <provhost/serve/access_log.hpp>

namespace provhost::serve {

void write_to_stderr(std::string_view line) { std::fwrite(line.data(), 1, line.size(), stderr); }

std::string printable(std::string_view text, std::size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit));
  for (char c : text.substr(0, limit)) out.push_back(c > 0x20 && c < 0x7f ? c : '?');
  return out.empty() ? "-" : out;
}

std::string escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '\\') {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", byte);
      out += hex;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string access_line(const ExchangeSummary &summary) {
  auto field = [&](std::size_t i) {
    return printable(i < summary.log_fields.size() ? std::string_view(summary.log_fields[i]) : std::string_view());
  };
  auto ms = std::chrono::duration<double, std::milli>(summary.elapsed).count();
  std::string method = printable(summary.method), path = printable(summary.path);
  std::string provider = field(0), model = field(1);
  auto format = [&](char *out, std::size_t size) {
    return std::snprintf(out, size, "provhost serve: %s %s %d %s %s %.1fms%s%.*s\n", method.c_str(), path.c_str(),
                         summary.status, provider.c_str(), model.c_str(), ms, summary.note.empty() ? "" : " ",
                         static_cast<int>(summary.note.size()), summary.note.data());
  };
  int length = format(nullptr, 0);
  if (length <= 0) return {};
  std::string line(static_cast<std::size_t>(length), '\0');
  format(line.data(), line.size() + 1);
  return line;
}

std::string warning_line(std::string_view peer, std::string_view request_id, std::string_view provider,
                         std::string_view message) {
  return "provhost serve: warning: " + printable(peer) + " " + printable(request_id) + " " + printable(provider) +
         ": " + escaped(message) + "\n";
}

}  // namespace provhost::serve
