#include <atomic>
#include <cctype>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <provhost/core/recording.hpp>
#include <provhost/testing/har.hpp>
#include <provhost/text.hpp>

namespace provhost::core {
namespace {

constexpr char mask[] = "********";

std::string iso8601(std::chrono::system_clock::time_point when) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

std::vector<std::pair<std::string, std::string>> masked(std::vector<std::pair<std::string, std::string>> headers) {
  for (auto &[name, value] : headers)
    if (secret_name(name)) value = mask;
  return headers;
}

// The URL with the values of secret query parameters masked.
std::string masked_url(const std::string &url) {
  const size_t query = url.find('?');
  if (query == std::string::npos) return url;
  const size_t fragment = url.find('#', query);
  std::string out = url.substr(0, query + 1);
  std::string_view rest(url.data() + query + 1, (fragment == std::string::npos ? url.size() : fragment) - query - 1);
  bool first = true;
  while (!rest.empty() || first) {
    const size_t amp = rest.find('&');
    std::string_view field = rest.substr(0, amp);
    const size_t eq = field.find('=');
    if (!first) out += '&';
    first = false;
    if (eq != std::string_view::npos && secret_name(field.substr(0, eq))) {
      out.append(field.substr(0, eq + 1)).append(mask);
    } else {
      out.append(field);
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  if (fragment != std::string::npos) out += url.substr(fragment);
  return out;
}

class FileRecorder final : public ChatRecorder {
 public:
  FileRecorder(std::filesystem::path target, bool folder) : target_(std::move(target)), folder_(folder) {}

  void record(const RecordedChat &chat) override {
    std::filesystem::path file = target_;
    if (folder_) {
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      file = target_ / ("chat-" + std::to_string(ms) + "-" + std::to_string(chat.id) + ".har");
    }
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << recorded_chat_har(chat);
    out.close();
    if (!out && !warned_.exchange(true))
      std::cerr << "provhost: warning: cannot write the recording " << one_line(file.string()) << "\n";
  }

 private:
  std::filesystem::path target_;
  bool folder_;
  std::atomic<bool> warned_{false};
};

}  // namespace

bool secret_name(std::string_view name) {
  std::string lower;
  for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const char *marker : {"auth", "cookie", "key", "token", "secret", "password", "session", "signature"})
    if (lower.find(marker) != std::string::npos) return true;
  return false;
}

std::string recorded_chat_har(const RecordedChat &chat) {
  testing::Har har;
  for (const auto &exchange : chat.exchanges) {
    testing::HarEntry entry;
    entry.provider = exchange->provider;
    entry.started = iso8601(exchange->started);
    entry.time_ms = exchange->wait_ms;
    entry.request.method = exchange->method;
    entry.request.url = masked_url(exchange->url);
    entry.request.headers = masked(exchange->request_headers);
    entry.request.body = exchange->request_body;
    entry.response.status = exchange->status;
    entry.response.headers = masked(exchange->response_headers);
    entry.response.body = exchange->response_body;
    har.entries.push_back(std::move(entry));
  }
  if (!chat.provider.empty()) har.provider = chat.provider;
  testing::Chat asked;
  asked.model = chat.model;
  asked.stream = chat.spec.stream;
  asked.options_json = chat.spec.options_json.empty() ? "{}" : chat.spec.options_json;
  for (const Message &message : chat.spec.messages) asked.messages.emplace_back(message.role, message.content);
  har.chat = std::move(asked);
  testing::HarAnswer answer;
  answer.text = chat.text;
  answer.finished = !chat.error;
  if (chat.error) answer.error = chat.error->message();
  har.answer = std::move(answer);
  return testing::write_har(har);
}

std::shared_ptr<ChatRecorder> har_file_recorder(std::filesystem::path file) {
  return std::make_shared<FileRecorder>(std::move(file), false);
}

std::shared_ptr<ChatRecorder> har_folder_recorder(std::filesystem::path folder) {
  return std::make_shared<FileRecorder>(std::move(folder), true);
}

}  // namespace provhost::core
