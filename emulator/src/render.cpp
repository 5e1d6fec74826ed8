#include "render.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <boost/beast/http/status.hpp>
#include <emulator/emulator.hpp>

namespace provhost::emulator {

std::string default_text() {
  return "Hello! Привет, мир! 你好，世界！ Emoji: 🦊🚀 and 👩‍💻 (a ZWJ sequence).\n"
         "\"Quotes\", 'apostrophes', a back\\slash, a literal \\n that is not a newline,\n"
         "\ta tab, and protocol words inside the text: data: [DONE] and {\"event\":\"text\"}.\n"
         "Ünïcödé ends here ✅";
}

}  // namespace provhost::emulator

namespace provhost::emulator::detail {

namespace {

constexpr std::array<std::string_view, route_count> route_names = {"koala", "ylokh", "chatgptfree", "freenetfly",
                                                                   "flowgpt"};

std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  return 4;
}

// OpenAI's chat.completion.chunk, the shape Ylokh, ChatgptFree and FreeNetfly stream.
std::string openai_chunk(std::string_view model, std::string_view delta, std::string_view finish_reason = "null") {
  std::string chunk = R"({"id":"chatcmpl-emulator","object":"chat.completion.chunk","created":1700000000,"model":")";
  chunk += model;
  chunk += R"(","choices":[{"index":0,"delta":)";
  chunk += delta;
  chunk += R"(,"finish_reason":)";
  chunk += finish_reason;
  chunk += "}]}";
  return chunk;
}

std::string content_delta(std::string_view piece) { return R"({"content":)" + json_string(piece) + "}"; }

// A streamed answer: the records around the tokens. The undecodable record and the records a
// client must skip go in the middle, so that text arrives both before and after them.
struct Stream {
  std::string prologue;
  std::vector<std::string> token_records;  // one per distinct piece, without the record separator
  std::string separator = "\n";            // ends an SSE event after its data line
  std::string middle, malformed, epilogue;
  bool pair_some_events = false;  // some SSE events carry two data lines
};

std::string assemble(const Stream &stream, Shape shape, const Tokens &tokens) {
  const std::size_t half = tokens.events / 2;
  const std::size_t stop = shape == Shape::truncated ? half : tokens.events;
  std::string out;
  std::size_t record_bytes = 0;
  for (const auto &record : stream.token_records) record_bytes += record.size() + stream.separator.size();
  if (!stream.token_records.empty()) out.reserve(record_bytes / stream.token_records.size() * stop + 4096);
  out += stream.prologue;
  auto add_middle = [&] {
    out += stream.middle;
    if (shape == Shape::malformed) out += stream.malformed;
  };
  for (std::size_t i = 0; i < stop; ++i) {
    if (i == half) add_middle();
    out += stream.token_records[i % stream.token_records.size()];
    const bool shares_event = stream.pair_some_events && i % 4 == 1 && i + 1 < stop && i + 1 != half;
    if (!shares_event) out += stream.separator;
  }
  if (tokens.events == 0) add_middle();
  if (shape != Shape::truncated) out += stream.epilogue;
  return out;
}

Stream koala_stream(const Tokens &tokens) {
  Stream s;
  s.prologue = ": koala stream\n\n";
  // Python servers escape non-ASCII ("\ud83e\udd8a"), which exercises a client's surrogate pairs.
  for (const auto &piece : tokens.pieces) s.token_records.push_back("data: " + json_string(piece, true) + "\n");
  s.middle = "event: ping\n\n";
  s.malformed = "data: {\"unterminated\": \n\n";
  return s;
}

Stream openai_stream(std::string_view model, const Tokens &tokens, bool with_comments) {
  Stream s;
  s.prologue = "data: " + openai_chunk(model, R"({"role":"assistant"})") + "\n\n";
  s.prologue += "data: " + openai_chunk(model, R"({"content":""})") + "\n\n";
  for (const auto &piece : tokens.pieces)
    s.token_records.push_back("data: " + openai_chunk(model, content_delta(piece)) + "\n");
  if (with_comments) s.middle = ": keep-alive\n\n";
  s.malformed = "data: {\"choices\":[{\"delta\":{\"content\":\"\n\n";
  s.epilogue = "data: " + openai_chunk(model, "{}", "\"stop\"") + "\n\ndata: [DONE]\n\n";
  return s;
}

Stream freenetfly_stream(const Tokens &tokens) {
  Stream s = openai_stream("gpt-3.5-turbo", tokens, true);
  // The role chunk and the empty chunk form one event with two data lines.
  s.prologue = "data: " + openai_chunk("gpt-3.5-turbo", R"({"role":"assistant"})") + "\n";
  s.prologue += "data: " + openai_chunk("gpt-3.5-turbo", R"({"content":""})") + "\n\n";
  s.pair_some_events = true;
  return s;
}

Stream flowgpt_stream(const Tokens &tokens) {
  Stream s;
  s.separator.clear();  // NDJSON records end with their own newline
  s.prologue = "{\"event\":\"start\",\"data\":{\"chatId\":\"emulator\"}}\n\n";
  for (const auto &piece : tokens.pieces)
    s.token_records.push_back(R"({"event":"text","data":)" + json_string(piece) + "}\n");
  s.middle = "\n{\"type\":\"ping\",\"data\":\"not text\"}\n";
  s.malformed = "{\"event\":\"text\",\"data\":\"\n";
  s.epilogue = "{\"event\":\"done\",\"data\":\"\"}\n";
  return s;
}

// A buffered JSON answer whose one string value is the text.
std::string json_answer(std::string_view before, std::string_view after, Shape shape, const Tokens &tokens) {
  const std::size_t half = tokens.events / 2;
  if (shape == Shape::malformed) {
    // "\q" is no JSON escape, so the document cannot be decoded.
    std::string first = json_string(tokens.joined(0, half));
    std::string second = json_string(tokens.joined(half, tokens.events));
    first.pop_back();
    return std::string(before) + first + "\\q" + second.substr(1) + std::string(after);
  }
  std::string whole = std::string(before) + json_string(tokens.text()) + std::string(after);
  if (shape == Shape::truncated) whole.resize(whole.size() / 2);
  return whole;
}

// splitmix64: the same write sizes on every run, cheap enough for millions of writes.
class WriteSizes {
 public:
  std::size_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return 1 + z % 7;
  }

 private:
  uint64_t state_ = 0x5EED;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<Route> parse_route(std::string_view name) {
  for (std::size_t i = 0; i < route_names.size(); ++i)
    if (route_names[i] == name) return static_cast<Route>(i);
  return std::nullopt;
}

std::string_view route_name(Route route) { return route_names[static_cast<std::size_t>(route)]; }

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    uint32_t code = 0, minimum = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2, code = lead & 0x1F, minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code = lead & 0x0F, minimum = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4, code = lead & 0x07, minimum = 0x10000;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

std::vector<std::string> tokenize(std::string_view text, std::size_t chunk_size) {
  std::vector<std::string> pieces;
  if (chunk_size == 0) {
    if (!text.empty()) pieces.emplace_back(text);
    return pieces;
  }
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = begin;
    while (end < text.size()) {
      const std::size_t next = std::min(text.size(), end + utf8_length(static_cast<unsigned char>(text[end])));
      if (next - begin > chunk_size && end > begin) break;
      end = next;
    }
    pieces.emplace_back(text.substr(begin, end - begin));
    begin = end;
  }
  return pieces;
}

Tokens::Tokens(std::vector<std::string> text_pieces, std::size_t chunks) : pieces(std::move(text_pieces)) {
  events = pieces.empty() ? 0 : (chunks == 0 ? pieces.size() : chunks);
}

std::string Tokens::joined(std::size_t begin, std::size_t end) const {
  std::string text;
  for (std::size_t i = begin; i < end; ++i) text += at(i);
  return text;
}

std::string render_body(Answer answer, Shape shape, const Tokens &tokens) {
  switch (answer) {
    case Answer::koala:
      return assemble(koala_stream(tokens), shape, tokens);
    case Answer::ylokh_stream:
      return assemble(openai_stream("gpt-3.5-turbo", tokens, true), shape, tokens);
    case Answer::chatgptfree_sse:
      // ChatgptFree buffers every line that is not "data: ", so its stream has no comments.
      return assemble(openai_stream("gpt-4o-mini-2024-07-18", tokens, false), shape, tokens);
    case Answer::freenetfly:
      return assemble(freenetfly_stream(tokens), shape, tokens);
    case Answer::flowgpt:
      return assemble(flowgpt_stream(tokens), shape, tokens);
    case Answer::ylokh_json:
      return json_answer(
          R"({"id":"chatcmpl-emulator","object":"chat.completion","created":1700000000,"model":"gpt-3.5-turbo",)"
          R"("choices":[{"index":0,"message":{"role":"assistant","content":)",
          R"(},"finish_reason":"stop"}]})", shape, tokens);
    case Answer::chatgptfree_json:
      return json_answer(R"({"data":)", "}", shape, tokens);
  }
  return {};
}

std::string_view content_type(Answer answer) {
  switch (answer) {
    case Answer::ylokh_json:
      return "application/json";
    case Answer::chatgptfree_json:
      return "application/json; charset=UTF-8";
    case Answer::chatgptfree_sse:
      return "text/event-stream";
    case Answer::flowgpt:
      return "application/x-ndjson";
    default:
      return "text/event-stream; charset=utf-8";
  }
}

bool is_streamed(Answer answer) { return answer != Answer::ylokh_json && answer != Answer::chatgptfree_json; }

Wire frame(const Head &head, std::string_view body, bool chunked, std::size_t write_size) {
  namespace http = boost::beast::http;
  Wire wire;
  auto &out = wire.bytes;
  out.reserve(body.size() + (chunked && write_size == 0 ? body.size() * 2 : body.size() / 8) + 512);
  out += "HTTP/1.1 " + std::to_string(head.status) + " ";
  out += http::obsolete_reason(http::int_to_status(static_cast<unsigned>(head.status)));
  out += "\r\nServer: provhost-emulator\r\n";
  for (const auto &[name, value] : head.headers) out += name + ": " + value + "\r\n";
  out += chunked ? std::string("Transfer-Encoding: chunked\r\n")
                 : "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  wire.body_begin = out.size();
  wire.write_ends.push_back(out.size());

  WriteSizes sizes;
  char hex[32];
  for (std::size_t pos = 0; pos < body.size();) {
    const std::size_t length = std::min(body.size() - pos, write_size ? write_size : sizes.next());
    if (chunked) {
      const int written = std::snprintf(hex, sizeof hex, "%zx\r\n", length);
      out.append(hex, static_cast<std::size_t>(written));
    }
    out.append(body.substr(pos, length));
    if (chunked) out += "\r\n";
    wire.write_ends.push_back(out.size());
    pos += length;
  }
  if (chunked) {
    out += "0\r\n\r\n";
    wire.write_ends.push_back(out.size());
  }
  return wire;
}

std::string form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<std::string> form_field(std::string_view form, std::string_view name) {
  while (!form.empty()) {
    const std::size_t amp = form.find('&');
    std::string_view pair = form.substr(0, amp);
    form = amp == std::string_view::npos ? std::string_view() : form.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (form_decode(pair.substr(0, eq)) != name) continue;
    return eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::string json_string(std::string_view text, bool ascii_only) {
  rapidjson::StringBuffer buffer;
  const auto length = static_cast<rapidjson::SizeType>(text.size());
  if (ascii_only) {
    rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::ASCII<>> writer(buffer);
    writer.String(text.data(), length);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.String(text.data(), length);
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace provhost::emulator::detail

namespace provhost::emulator {

std::vector<std::string_view> routes() { return {detail::route_names.begin(), detail::route_names.end()}; }

}  // namespace provhost::emulator
