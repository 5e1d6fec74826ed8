#include "client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <provhost/framing.hpp>
#include <stdexcept>

namespace provhost::emulator::test {

namespace {

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

size_t on_body(char *data, size_t size, size_t count, void *user) {
  auto *response = static_cast<HttpResponse *>(user);
  response->body.append(data, size * count);
  ++response->body_callbacks;
  return size * count;
}

size_t on_header(char *data, size_t size, size_t count, void *user) {
  auto *response = static_cast<HttpResponse *>(user);
  std::string_view line(data, size * count);
  if (auto colon = line.find(':'); colon != std::string_view::npos)
    response->headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
  return size * count;
}

// Whether the JSON holds a string at choices[0].<object>.content; stores it in `content`.
bool choice_content(const rapidjson::Value &chunk, const char *object, std::string &content) {
  if (!chunk.IsObject()) return false;
  auto choices = chunk.FindMember("choices");
  if (choices == chunk.MemberEnd() || !choices->value.IsArray() || choices->value.Empty()) return false;
  const auto &first = choices->value[0];
  if (!first.IsObject()) return false;
  auto inner = first.FindMember(object);
  if (inner == first.MemberEnd() || !inner->value.IsObject()) return false;
  auto text = inner->value.FindMember("content");
  if (text == inner->value.MemberEnd() || !text->value.IsString()) return false;
  content.assign(text->value.GetString(), text->value.GetStringLength());
  return true;
}

bool parse(std::string_view json, rapidjson::Document &document) {
  document.Parse(json.data(), json.size());
  return !document.HasParseError();
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto &[key, value] : headers)
    if (same_name(key, name)) return value;
  return {};
}

HttpResponse perform(const HttpRequest &request) {
  static std::once_flag initialized;
  std::call_once(initialized, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  HttpResponse response;
  CURL *curl = curl_easy_init();
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  curl_slist *headers = nullptr;
  for (const auto &header : request.headers) headers = curl_slist_append(headers, header.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "POST" || !request.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  response.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return response;
}

HttpResponse get(const std::string &url) { return perform({"GET", url, "", {}}); }

HttpResponse post_json(const std::string &url, const std::string &json) {
  return perform({"POST", url, json, {"Content-Type: application/json"}});
}

HttpResponse post_form(const std::string &url, const std::string &form) {
  return perform({"POST", url, form, {"Content-Type: application/x-www-form-urlencoded"}});
}

RawConnection::RawConnection(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
    close();
    throw std::runtime_error("cannot connect to the emulator");
  }
}

RawConnection::~RawConnection() { close(); }

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawConnection::send(std::string_view bytes) {
  for (std::size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

bool RawConnection::read_once(std::chrono::steady_clock::time_point deadline) {
  if (ended_ || fd_ < 0) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  pollfd readable{fd_, POLLIN, 0};
  if (left.count() <= 0 || ::poll(&readable, 1, static_cast<int>(left.count())) <= 0) return false;
  char buffer[65536];
  const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
  if (n > 0) {
    received_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
  ended_ = true;
  reset_ = n < 0 && errno == ECONNRESET;
  return false;
}

bool RawConnection::read_at_least(std::size_t size, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (received_.size() < size && read_once(deadline)) {
  }
  return received_.size() >= size;
}

bool RawConnection::read_to_end(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (read_once(deadline)) {
  }
  return ended_;
}

RawExchange raw_exchange(uint16_t port, const std::string &request, std::chrono::milliseconds limit) {
  RawConnection connection(port);
  connection.send(request);
  RawExchange exchange;
  exchange.timed_out = !connection.read_to_end(limit);
  exchange.bytes = connection.received();
  exchange.reset = connection.reset();
  return exchange;
}

ChunkedResponse parse_chunked(std::string_view response) {
  ChunkedResponse parsed;
  const std::size_t head_end = response.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return parsed;
  parsed.head = std::string(response.substr(0, head_end));
  std::string_view rest = response.substr(head_end + 4);
  while (true) {
    const std::size_t line_end = rest.find("\r\n");
    if (line_end == std::string_view::npos) return parsed;
    const std::size_t size = std::stoul(std::string(rest.substr(0, line_end)), nullptr, 16);
    rest.remove_prefix(line_end + 2);
    if (size == 0) {
      parsed.terminated = rest.starts_with("\r\n");
      return parsed;
    }
    if (rest.size() < size + 2) return parsed;
    parsed.chunks.emplace_back(rest.substr(0, size));
    parsed.body.append(rest.substr(0, size));
    rest.remove_prefix(size + 2);
  }
}

Decoded read_koala(std::string_view body) {
  Decoded decoded;
  LineFramer lines;
  auto on_line = [&](std::string_view line) {
    std::string_view json;
    if (!strip_prefix(line, "data: ", json)) {
      if (!line.empty()) ++decoded.ignored;
      return;
    }
    rapidjson::Document value;
    if (!parse(json, value))
      ++decoded.undecodable;
    else if (value.IsString())
      decoded.text.append(value.GetString(), value.GetStringLength());
    else
      ++decoded.ignored;
  };
  lines.feed(body, on_line);
  lines.finish(on_line);
  return decoded;
}

// One OpenAI delta chunk: its text is added, or it is counted as undecodable or ignored.
static void read_delta_chunk(std::string_view data, Decoded &decoded) {
  rapidjson::Document chunk;
  std::string content;
  if (!parse(data, chunk))
    ++decoded.undecodable;
  else if (choice_content(chunk, "delta", content) && !content.empty())
    decoded.text += content;
  else
    ++decoded.ignored;
}

Decoded read_openai_stream(std::string_view body) {
  Decoded decoded;
  SseFramer events;
  auto on_event = [&](const SseEvent &event) {
    if (decoded.terminated) return;
    if (event.data.empty()) ++decoded.ignored;
    if (event.data.size() > 1) ++decoded.multi_data_events;
    for (const auto &data : event.data) {
      if (data == "[DONE]") {
        decoded.terminated = true;
        return;
      }
      read_delta_chunk(data, decoded);
    }
  };
  events.feed(body, on_event);
  events.finish(on_event);
  return decoded;
}

Decoded read_chatgptfree(std::string_view body) {
  Decoded decoded;
  std::string buffer;
  LineFramer lines;
  auto on_line = [&](std::string_view raw_line) {
    if (decoded.terminated) return;
    const std::string_view line = trim(raw_line);
    std::string_view data;
    if (strip_prefix(line, "data: ", data)) {
      if (data == "[DONE]") {
        decoded.terminated = true;
        return;
      }
      read_delta_chunk(data, decoded);
    } else if (!line.empty()) {
      buffer += line;
    }
  };
  lines.feed(body, on_line);
  lines.finish(on_line);
  rapidjson::Document buffered;
  if (!buffer.empty()) {
    if (!parse(buffer, buffered) || !buffered.IsObject()) {
      ++decoded.undecodable;
    } else if (auto data = buffered.FindMember("data"); data != buffered.MemberEnd() && data->value.IsString()) {
      decoded.text.append(data->value.GetString(), data->value.GetStringLength());
    }
  }
  return decoded;
}

Decoded read_flowgpt(std::string_view body) {
  Decoded decoded;
  NdjsonFramer records;
  auto on_record = [&](std::string_view line) {
    rapidjson::Document record;
    if (!parse(line, record) || !record.IsObject()) {
      ++decoded.undecodable;
      return;
    }
    auto event = record.FindMember("event");
    auto data = record.FindMember("data");
    if (event == record.MemberEnd() || !event->value.IsString()) {
      ++decoded.ignored;
    } else if (std::string_view(event->value.GetString()) == "text" && data != record.MemberEnd() &&
               data->value.IsString()) {
      decoded.text.append(data->value.GetString(), data->value.GetStringLength());
    } else {
      if (std::string_view(event->value.GetString()) == "done") decoded.terminated = true;
      ++decoded.ignored;
    }
  };
  records.feed(body, on_record);
  records.finish(on_record);
  return decoded;
}

Decoded read_ylokh_json(std::string_view body) {
  Decoded decoded;
  rapidjson::Document answer;
  if (!parse(body, answer))
    ++decoded.undecodable;
  else if (choice_content(answer, "message", decoded.text))
    decoded.terminated = true;
  return decoded;
}

std::string route_path(std::string_view route) {
  if (route == "koala") return "/api/gpt/";
  if (route == "ylokh") return "/v1/chat/completions";
  if (route == "chatgptfree") return "/wp-admin/admin-ajax.php";
  if (route == "freenetfly") return "/api/openai/v1/chat/completions";
  if (route == "flowgpt") return "/v3/chat-anonymous";
  throw std::invalid_argument("no such route");
}

std::string route_body(std::string_view route, const std::string &nonce, bool stream) {
  const std::string messages = R"([{"role":"user","content":"Hello"}])";
  if (route == "koala") return R"({"input":"Hello","inputHistory":[],"outputHistory":[],"model":"gpt-4o-mini"})";
  if (route == "ylokh")
    return R"({"messages":)" + messages + R"(,"model":"gpt-3.5-turbo","temperature":1,"stream":)" +
           (stream ? "true" : "false") + "}";
  if (route == "chatgptfree")
    return "_wpnonce=" + nonce +
           "&post_id=106&url=https%3A%2F%2Fchatgptfree.ai&action=wpaicg_chat_shortcode_message&message=Hello&bot_id=0";
  if (route == "freenetfly") return R"({"messages":)" + messages + R"(,"stream":true,"model":"gpt-3.5-turbo"})";
  if (route == "flowgpt") return R"({"model":"gpt-3.5-turbo","nsfw":false,"question":"Hello","history":[]})";
  throw std::invalid_argument("no such route");
}

HttpResponse ask(const Emulator &emulator, std::string_view route, bool stream, std::chrono::milliseconds timeout) {
  HttpRequest request{
      "POST", emulator.origin() + route_path(route), route_body(route, emulator.current_nonce(), stream), {}, timeout};
  request.headers.push_back(route == "chatgptfree" ? "Content-Type: application/x-www-form-urlencoded"
                                                   : "Content-Type: application/json");
  return perform(request);
}

std::string raw_request(const Emulator &emulator, std::string_view route, bool stream) {
  const std::string body = route_body(route, emulator.current_nonce(), stream);
  return "POST " + route_path(route) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " +
         (route == "chatgptfree" ? "application/x-www-form-urlencoded" : "application/json") +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

std::string raw_answer(const Emulator &emulator, std::string_view route) {
  return raw_exchange(emulator.port(), "GET /__emulator/raw?route=" + std::string(route) +
                                           " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
      .bytes;
}

Decoded decode(std::string_view route, std::string_view body, bool stream) {
  if (route == "koala") return read_koala(body);
  if (route == "ylokh") return stream ? read_openai_stream(body) : read_ylokh_json(body);
  if (route == "chatgptfree") return read_chatgptfree(body);
  if (route == "freenetfly") return read_openai_stream(body);
  if (route == "flowgpt") return read_flowgpt(body);
  throw std::invalid_argument("no such route");
}

}  // namespace provhost::emulator::test
