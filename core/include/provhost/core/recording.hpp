// recording.hpp: what the engine saw of a chat's upstream exchanges, handed to a recorder when the
// chat ends (`chat --record FILE.har`, `serve --record DIR`). The recorders write HAR 1.2 with the
// SDK's test kit (provhost/testing/har.hpp), so that a recording replays into a plugin session as it
// is, and with secrets masked: Authorization, cookies, and headers and query parameters whose names
// look like keys or tokens.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/error.hpp>
#include <string>
#include <utility>
#include <vector>

namespace provhost::core {

// One request sent and its response, as far as it came.
struct RecordedExchange {
  std::string provider;
  std::string method;
  std::string url;  // as sent: --upstream applied
  std::vector<std::pair<std::string, std::string>> request_headers;
  std::string request_body;
  std::chrono::system_clock::time_point started;
  std::chrono::steady_clock::time_point started_steady;
  double wait_ms = 0;  // from the start to the response's status
  int status = 0;      // 0 when no response came
  std::vector<std::pair<std::string, std::string>> response_headers;
  std::string response_body;  // every byte received, also past what the session needed
};

struct RecordedChat {
  uint64_t id = 0;
  ChatSpec spec;
  std::string provider;  // who answered, or failed last
  std::string model;
  std::vector<std::shared_ptr<RecordedExchange>> exchanges;  // shared with a transfer still draining
  std::string text;                                          // what reached the caller
  std::optional<ChatError> error;
};

// Called on the engine's thread once per chat that ends, when EngineOptions::recorder is set.
class ChatRecorder {
 public:
  virtual ~ChatRecorder() = default;
  virtual void record(const RecordedChat &chat) = 0;
};

// Writes the chat to `file` (the last chat wins: `chat` has one). A file that cannot be written is
// reported on stderr, once, as a warning; the chat is not failed for it.
std::shared_ptr<ChatRecorder> har_file_recorder(std::filesystem::path file);
// Writes each chat to DIR/chat-<unix ms>-<id>.har.
std::shared_ptr<ChatRecorder> har_folder_recorder(std::filesystem::path folder);

// The HAR 1.2 JSON of a chat, secrets masked.
std::string recorded_chat_har(const RecordedChat &chat);

// Whether a header or query parameter of this name carries a secret (compared case-insensitively).
bool secret_name(std::string_view name);

}  // namespace provhost::core
