// The control endpoints under /__emulator/, for tests and scripts that run the emulator as a
// process: the same operations as the C++ API, over JSON.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <stdexcept>

#include "routes.hpp"

namespace provhost::emulator::detail {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view ok_json = R"({"ok":true})";

Reply ok() { return small_reply(200, "application/json", ok_json); }

std::string requests_json(const std::vector<RecordedRequest> &requests) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  auto string = [&](const std::string &text) {
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  };
  writer.StartArray();
  for (const auto &request : requests) {
    writer.StartObject();
    writer.Key("method");
    string(request.method);
    writer.Key("path");
    string(request.path);
    writer.Key("headers");
    writer.StartArray();
    for (const auto &[name, value] : request.headers) {
      writer.StartArray();
      string(name);
      string(value);
      writer.EndArray();
    }
    writer.EndArray();
    writer.Key("body");
    string(request.body);
    writer.EndObject();
  }
  writer.EndArray();
  return {buffer.GetString(), buffer.GetSize()};
}

std::string config_json(const Config &config) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("text");
  writer.String(config.text.data(), static_cast<rapidjson::SizeType>(config.text.size()));
  writer.Key("chunks");
  writer.Uint64(config.chunks);
  writer.Key("write_size");
  writer.Uint64(config.write_size);
  writer.Key("chunk_size");
  writer.Uint64(config.chunk_size);
  writer.Key("chatgptfree_answer");
  writer.String(config.chatgptfree_json_answer ? "json" : "sse");
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

rapidjson::Document json_object(const Request &request) {
  rapidjson::Document document;
  document.Parse(request.body().data(), request.body().size());
  if (document.HasParseError() || !document.IsObject()) throw std::invalid_argument("the body is not a JSON object");
  return document;
}

std::size_t size_field(const rapidjson::Value &value, const char *name) {
  if (!value.IsUint64()) throw std::invalid_argument(std::string(name) + " must be a non-negative integer");
  return static_cast<std::size_t>(value.GetUint64());
}

// Fields that are present replace the current ones; the others stay.
Config updated_config(Config config, const rapidjson::Document &update) {
  for (const auto &member : update.GetObject()) {
    const std::string_view key(member.name.GetString(), member.name.GetStringLength());
    const auto &value = member.value;
    if (key == "text") {
      if (!value.IsString()) throw std::invalid_argument("text must be a string");
      config.text.assign(value.GetString(), value.GetStringLength());
    } else if (key == "chunks") {
      config.chunks = size_field(value, "chunks");
    } else if (key == "write_size") {
      config.write_size = size_field(value, "write_size");
    } else if (key == "chunk_size") {
      config.chunk_size = size_field(value, "chunk_size");
    } else if (key == "chatgptfree_answer") {
      const std::string_view answer = value.IsString() ? value.GetString() : "";
      if (answer != "sse" && answer != "json")
        throw std::invalid_argument(R"(chatgptfree_answer must be "sse" or "json")");
      config.chatgptfree_json_answer = answer == "json";
    } else {
      throw std::invalid_argument("unknown config field \"" + std::string(key) + "\"");
    }
  }
  return config;
}

void set_fault(State &state, const rapidjson::Document &request) {
  std::string route, fault;
  int k = 0, times = 0;
  for (const auto &member : request.GetObject()) {
    const std::string_view key(member.name.GetString(), member.name.GetStringLength());
    const auto &value = member.value;
    if (key == "route" || key == "fault") {
      if (!value.IsString()) throw std::invalid_argument(std::string(key) + " must be a string");
      (key == "route" ? route : fault).assign(value.GetString(), value.GetStringLength());
    } else if (key == "k" || key == "times") {
      if (!value.IsInt() || value.GetInt() < 0)
        throw std::invalid_argument(std::string(key) + " must be a non-negative integer");
      (key == "k" ? k : times) = value.GetInt();
    } else {
      throw std::invalid_argument("unknown fault field \"" + std::string(key) + "\"");
    }
  }
  if (route.empty()) throw std::invalid_argument("route is missing");
  state.set_fault(route, fault.empty() ? "none" : fault, k, times);
}

Reply raw(State &state, std::string_view query) {
  const auto route_name = form_field(query, "route");
  if (!route_name) throw std::invalid_argument("raw needs ?route=NAME");
  const auto route = parse_route(*route_name);
  if (!route) throw std::invalid_argument("unknown route \"" + *route_name + "\"");
  const auto stream = form_field(query, "stream");
  return raw_answer(state, *route, !(stream == "false" || stream == "0"));
}

using Answer = Reply (*)(State &, const Request &, std::string_view query);

struct ControlEndpoint {
  std::string_view path;  // after /__emulator/
  http::verb method;
  Answer answer;
};

const ControlEndpoint control_endpoints[] = {
    {"requests", http::verb::get,
     [](State &state, const Request &, std::string_view) {
       return small_reply(200, "application/json", requests_json(state.requests()));
     }},
    {"requests", http::verb::delete_,
     [](State &state, const Request &, std::string_view) {
       state.clear_requests();
       return ok();
     }},
    {"fault", http::verb::post,
     [](State &state, const Request &request, std::string_view) {
       set_fault(state, json_object(request));
       return ok();
     }},
    {"fault", http::verb::delete_,
     [](State &state, const Request &, std::string_view) {
       state.clear_faults();
       return ok();
     }},
    {"config", http::verb::get,
     [](State &state, const Request &, std::string_view) {
       return small_reply(200, "application/json", config_json(state.config()));
     }},
    {"config", http::verb::post,
     [](State &state, const Request &request, std::string_view) {
       state.configure(updated_config(state.config(), json_object(request)));
       return ok();
     }},
    {"reset", http::verb::post,
     [](State &state, const Request &, std::string_view) {
       state.reset();
       return ok();
     }},
    {"text", http::verb::get,
     [](State &state, const Request &, std::string_view) {
       return small_reply(200, "text/plain; charset=utf-8", state.expected_text());
     }},
    {"nonce", http::verb::get,
     [](State &state, const Request &, std::string_view) {
       return small_reply(200, "text/plain; charset=utf-8", state.nonce());
     }},
    {"raw", http::verb::get, [](State &state, const Request &, std::string_view query) { return raw(state, query); }},
};

}  // namespace

Reply respond_control(State &state, const Request &request, std::string_view path, std::string_view query) {
  std::string allowed;
  for (const auto &endpoint : control_endpoints) {
    if (endpoint.path != path) continue;
    if (endpoint.method != request.method()) {
      allowed += (allowed.empty() ? "" : ", ") + std::string(http::to_string(endpoint.method));
      continue;
    }
    try {
      return endpoint.answer(state, request, query);
    } catch (const std::invalid_argument &error) {
      return json_error(400, error.what());
    }
  }
  if (allowed.empty()) return json_error(404, "no control endpoint /__emulator/" + std::string(path));
  return small_reply(405, "application/json", R"({"error":{"message":"Method Not Allowed"}})",
                     Head{0, {{"Allow", allowed}}});
}

}  // namespace provhost::emulator::detail
