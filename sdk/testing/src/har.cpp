#include "provhost/testing/har.hpp"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "provhost/testing/contract.hpp"

namespace provhost::testing {
namespace {

using rapidjson::Value;

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t group = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) group |= static_cast<unsigned char>(bytes[i + 2]);
    out += kBase64[(group >> 18) & 63];
    out += kBase64[(group >> 12) & 63];
    out += i + 1 < bytes.size() ? kBase64[(group >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kBase64[group & 63] : '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  std::string out;
  uint32_t group = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    const char *at = std::char_traits<char>::find(kBase64, 64, c);
    if (!at) throw std::runtime_error("a base64 body has the character " + printable(std::string_view(&c, 1)));
    group = (group << 6) | static_cast<uint32_t>(at - kBase64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((group >> bits) & 0xff));
    }
  }
  return out;
}

[[noreturn]] void malformed(const std::string &what) { throw std::runtime_error("not a HAR file: " + what); }

const Value &member(const Value &object, const char *name, const std::string &where) {
  if (!object.IsObject()) malformed(where + " is not an object");
  auto found = object.FindMember(name);
  if (found == object.MemberEnd()) malformed(where + " has no \"" + name + "\"");
  return found->value;
}

std::string string_member(const Value &object, const char *name, const std::string &where, bool required = true) {
  auto found = object.IsObject() ? object.FindMember(name) : object.MemberEnd();
  if (!object.IsObject() || found == object.MemberEnd()) {
    if (required) malformed(where + " has no \"" + name + "\"");
    return {};
  }
  if (!found->value.IsString()) malformed(where + "." + name + " is not a string");
  return std::string(found->value.GetString(), found->value.GetStringLength());
}

Pairs pairs_member(const Value &object, const char *name, const std::string &where) {
  Pairs pairs;
  auto found = object.FindMember(name);
  if (found == object.MemberEnd()) return pairs;
  if (!found->value.IsArray()) malformed(where + "." + name + " is not an array");
  for (const Value &item : found->value.GetArray())
    pairs.emplace_back(string_member(item, "name", where + "." + name),
                       string_member(item, "value", where + "." + name));
  return pairs;
}

std::string body_of(const Value &holder, const std::string &where) {
  const std::string text = string_member(holder, "text", where, false);
  return string_member(holder, "encoding", where, false) == "base64" ? base64_decode(text) : text;
}

// Method and path (with the query), which --upstream does not change.
std::string target_of(const Request &request) {
  std::string_view url = request.url;
  size_t scheme = url.find("://");
  size_t path = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  return request.method + " " + std::string(path == std::string_view::npos ? "/" : url.substr(path));
}

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void write_string(Writer &json, std::string_view text) {
  json.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void write_pairs(Writer &json, const char *key, const Pairs &pairs) {
  json.Key(key);
  json.StartArray();
  for (const auto &[name, value] : pairs) {
    json.StartObject();
    json.Key("name"), write_string(json, name);
    json.Key("value"), write_string(json, value);
    json.EndObject();
  }
  json.EndArray();
}

// A body as HAR keeps it: the text itself when it is UTF-8, else base64 with "encoding".
void write_body(Writer &json, std::string_view body) {
  if (well_formed_utf8(body)) {
    json.Key("text"), write_string(json, body);
  } else {
    json.Key("text"), write_string(json, base64_encode(body));
    json.Key("encoding"), json.String("base64");
  }
}

std::string query_of(std::string_view url) {
  size_t mark = url.find('?');
  return mark == std::string_view::npos ? std::string() : std::string(url.substr(mark + 1));
}

}  // namespace

Har parse_har(std::string_view text) {
  rapidjson::Document document;
  if (document.Parse(text.data(), text.size()).HasParseError()) malformed("the file is not JSON");
  const Value &log = member(document, "log", "the file");
  const std::string version = string_member(log, "version", "log");
  if (version.rfind("1.", 0) != 0) malformed("version " + printable(version) + " (HAR 1.x is read)");
  const Value &entries = member(log, "entries", "log");
  if (!entries.IsArray()) malformed("log.entries is not an array");
  Har har;
  size_t index = 0;
  for (const Value &entry : entries.GetArray()) {
    const std::string where = "entry " + std::to_string(++index);
    HarEntry out;
    const Value &request = member(entry, "request", where);
    out.request.method = string_member(request, "method", where + ".request");
    out.request.url = string_member(request, "url", where + ".request");
    out.request.headers = pairs_member(request, "headers", where + ".request");
    if (auto post = request.FindMember("postData"); post != request.MemberEnd())
      out.request.body = body_of(post->value, where + ".request.postData");
    const Value &response = member(entry, "response", where);
    const Value &status = member(response, "status", where + ".response");
    if (!status.IsInt()) malformed(where + ".response.status is not a number");
    out.response.status = status.GetInt();
    out.response.headers = pairs_member(response, "headers", where + ".response");
    out.response.body = body_of(member(response, "content", where + ".response"), where + ".response.content");
    out.started = string_member(entry, "startedDateTime", where, false);
    if (auto time = entry.FindMember("time"); time != entry.MemberEnd() && time->value.IsNumber())
      out.time_ms = time->value.GetDouble();
    out.provider = string_member(entry, "_provider", where, false);
    har.entries.push_back(std::move(out));
  }
  if (auto extension = log.FindMember("_provhost"); extension != log.MemberEnd() && extension->value.IsObject()) {
    const Value &chat = extension->value;
    if (std::string provider = string_member(chat, "provider", "_provhost", false); !provider.empty())
      har.provider = provider;
    if (auto messages = chat.FindMember("messages"); messages != chat.MemberEnd() && messages->value.IsArray()) {
      Chat asked;
      for (const Value &message : messages->value.GetArray())
        asked.messages.emplace_back(string_member(message, "role", "_provhost.messages"),
                                    string_member(message, "content", "_provhost.messages"));
      asked.model = string_member(chat, "model", "_provhost", false);
      if (auto stream = chat.FindMember("stream"); stream != chat.MemberEnd() && stream->value.IsBool())
        asked.stream = stream->value.GetBool();
      if (std::string options = string_member(chat, "options", "_provhost", false); !options.empty())
        asked.options_json = options;
      har.chat = std::move(asked);
    }
    if (auto answer = chat.FindMember("answer"); answer != chat.MemberEnd() && answer->value.IsObject()) {
      HarAnswer recorded;
      recorded.text = string_member(answer->value, "text", "_provhost.answer", false);
      recorded.error = string_member(answer->value, "error", "_provhost.answer", false);
      if (auto finished = answer->value.FindMember("finished");
          finished != answer->value.MemberEnd() && finished->value.IsBool())
        recorded.finished = finished->value.GetBool();
      har.answer = std::move(recorded);
    }
  }
  return har;
}

Har read_har_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return parse_har(text.str());
  } catch (const std::runtime_error &e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::string write_har(const Har &har) {
  rapidjson::StringBuffer buffer;
  Writer json(buffer);
  json.SetIndent(' ', 1);
  json.StartObject();
  json.Key("log");
  json.StartObject();
  json.Key("version"), json.String("1.2");
  json.Key("creator"), json.StartObject();
  json.Key("name"), json.String("provhost");
  json.Key("version"), json.String("1");
  json.EndObject();
  json.Key("pages"), json.StartArray(), json.EndArray();
  json.Key("entries"), json.StartArray();
  for (const HarEntry &entry : har.entries) {
    json.StartObject();
    json.Key("startedDateTime"), write_string(json, entry.started.empty() ? "1970-01-01T00:00:00.000Z" : entry.started);
    json.Key("time"), json.Double(entry.time_ms);
    if (!entry.provider.empty()) json.Key("_provider"), write_string(json, entry.provider);
    json.Key("request"), json.StartObject();
    json.Key("method"), write_string(json, entry.request.method);
    json.Key("url"), write_string(json, entry.request.url);
    json.Key("httpVersion"), json.String("HTTP/1.1");
    json.Key("cookies"), json.StartArray(), json.EndArray();
    write_pairs(json, "headers", entry.request.headers);
    Pairs query;
    const std::string query_text = query_of(entry.request.url);
    for (std::string_view rest = query_text; !rest.empty();) {
      size_t amp = rest.find('&');
      std::string_view field = rest.substr(0, amp);
      size_t eq = field.find('=');
      query.emplace_back(field.substr(0, eq), eq == std::string_view::npos ? "" : field.substr(eq + 1));
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    }
    write_pairs(json, "queryString", query);
    if (!entry.request.body.empty()) {
      json.Key("postData"), json.StartObject();
      auto type = entry.request.header("content-type");
      json.Key("mimeType"), write_string(json, type ? *type : "application/octet-stream");
      write_body(json, entry.request.body);
      json.EndObject();
    }
    json.Key("headersSize"), json.Int(-1);
    json.Key("bodySize"), json.Int64(static_cast<int64_t>(entry.request.body.size()));
    json.EndObject();
    json.Key("response"), json.StartObject();
    json.Key("status"), json.Int(entry.response.status);
    json.Key("statusText"), json.String("");
    json.Key("httpVersion"), json.String("HTTP/1.1");
    json.Key("cookies"), json.StartArray(), json.EndArray();
    write_pairs(json, "headers", entry.response.headers);
    json.Key("content"), json.StartObject();
    json.Key("size"), json.Int64(static_cast<int64_t>(entry.response.body.size()));
    Request response_headers;  // for its case-insensitive header lookup
    response_headers.headers = entry.response.headers;
    json.Key("mimeType"), write_string(json, response_headers.header("content-type").value_or(""));
    write_body(json, entry.response.body);
    json.EndObject();
    json.Key("redirectURL"), json.String("");
    json.Key("headersSize"), json.Int(-1);
    json.Key("bodySize"), json.Int64(static_cast<int64_t>(entry.response.body.size()));
    json.EndObject();
    json.Key("cache"), json.StartObject(), json.EndObject();
    json.Key("timings"), json.StartObject();
    json.Key("send"), json.Int(0);
    json.Key("wait"), json.Double(entry.time_ms);
    json.Key("receive"), json.Int(0);
    json.EndObject();
    json.EndObject();
  }
  json.EndArray();
  if (har.provider || har.chat || har.answer) {
    json.Key("_provhost"), json.StartObject();
    if (har.provider) json.Key("provider"), write_string(json, *har.provider);
    if (har.chat) {
      json.Key("model"), write_string(json, har.chat->model);
      json.Key("stream"), json.Bool(har.chat->stream);
      json.Key("options"), write_string(json, har.chat->options_json);
      json.Key("messages"), json.StartArray();
      for (const auto &[role, content] : har.chat->messages) {
        json.StartObject();
        json.Key("role"), write_string(json, role);
        json.Key("content"), write_string(json, content);
        json.EndObject();
      }
      json.EndArray();
    }
    if (har.answer) {
      json.Key("answer"), json.StartObject();
      json.Key("text"), write_string(json, har.answer->text);
      json.Key("finished"), json.Bool(har.answer->finished);
      if (!har.answer->error.empty()) json.Key("error"), write_string(json, har.answer->error);
      json.EndObject();
    }
    json.EndObject();
  }
  json.EndObject();
  json.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

Responder recorded_responder(const Har &har, std::string_view provider) {
  // Per target, the recorded responses in order; the counts of what this chat has asked so far.
  auto recorded = std::make_shared<std::map<std::string, std::vector<Response>>>();
  for (const HarEntry &entry : har.entries)
    if (provider.empty() || entry.provider.empty() || entry.provider == provider)
      (*recorded)[target_of(entry.request)].push_back(entry.response);
  auto asked = std::make_shared<std::map<std::string, size_t>>();
  return [recorded, asked](const Request &request, size_t index) -> std::optional<Response> {
    if (index == 0) asked->clear();
    const std::string target = target_of(request);
    auto found = recorded->find(target);
    const size_t nth = (*asked)[target]++;
    if (found == recorded->end() || nth >= found->second.size()) return std::nullopt;
    return found->second[nth];
  };
}

Replay replay_har(const ph_provider &provider, const Har &har, const std::optional<Chat> &chat, const Checks &checks) {
  Replay replay;
  const std::string_view name(provider.info->name.data ? provider.info->name.data : "", provider.info->name.size);
  Chat asked;
  if (chat) {
    asked = *chat;
  } else if (har.chat) {
    asked = *har.chat;
  } else {
    throw std::runtime_error("the HAR file does not say which chat was asked (no _provhost); pass a chat");
  }
  if (asked.model.empty())
    asked.model = std::string(provider.info->default_model.data ? provider.info->default_model.data : "",
                              provider.info->default_model.size);
  const Responder recorded = recorded_responder(har, name);
  const Responder responder = [&](const Request &request, size_t index) {
    std::optional<Response> response = recorded(request, index);
    if (!response)
      replay.problems.push_back("request " + std::to_string(index + 1) + " (" + printable(target_of(request)) +
                                ") has no recorded answer");
    return response;
  };
  replay.run = run_chat(provider, asked, responder, {}, checks);
  if (har.answer) {
    const Outcome &got = replay.run.outcome;
    // A session that ends without finishing fails in the host (as truncated when it said nothing).
    const bool recorded_failed = !har.answer->error.empty();
    if (recorded_failed && got.finished())
      replay.problems.push_back("the recording failed (" + printable(har.answer->error, 120) + "), the replay " +
                                got.summary());
    if (!recorded_failed && !got.finished())
      replay.problems.push_back("the recording finished, the replay " + got.summary());
    if (got.text() != har.answer->text)
      replay.problems.push_back("the replay's text \"" + printable(got.text(), 120) + "\" is not the recorded \"" +
                                printable(har.answer->text, 120) + "\"");
  }
  return replay;
}

}  // namespace provhost::testing
