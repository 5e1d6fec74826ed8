#include "wire.hpp"

#include <cstring>
#include <provhost/core/host_services.hpp>

namespace provhost::core::isolation {
namespace {

constexpr size_t string_size = sizeof(uint32_t);  // the least a string takes: its length

void write_pairs(WireWriter &w, const std::vector<std::pair<std::string, std::string>> &pairs) {
  w.u32(static_cast<uint32_t>(pairs.size()));
  for (const auto &[name, value] : pairs) {
    w.str(name);
    w.str(value);
  }
}

bool read_pairs(WireReader &r, std::vector<std::pair<std::string, std::string>> &pairs) {
  uint32_t count = r.count(2 * string_size);
  pairs.resize(count);
  for (auto &[name, value] : pairs) {
    r.str(name);
    r.str(value);
  }
  return r.ok();
}

void write_strings(WireWriter &w, const std::vector<std::string> &items) {
  w.u32(static_cast<uint32_t>(items.size()));
  for (const auto &item : items) w.str(item);
}

bool read_strings(WireReader &r, std::vector<std::string> &items) {
  items.resize(r.count(string_size));
  for (auto &item : items) r.str(item);
  return r.ok();
}

void write_spec(WireWriter &w, const ChatSpec &spec) {
  w.str(spec.provider);
  w.str(spec.model);
  w.u32(static_cast<uint32_t>(spec.messages.size()));
  for (const Message &message : spec.messages) {
    w.str(message.role);
    w.str(message.content);
  }
  w.u8(spec.stream ? 1 : 0);
  w.str(spec.options_json);
  w.str(spec.passthrough_json);
}

// ABI 1.1's events: the tool calls and the upstream's report one call produced.
void write_answer_events(WireWriter &w, const SessionResult &result) {
  w.u32(static_cast<uint32_t>(result.tool_calls.size()));
  for (const ToolCallDelta &call : result.tool_calls) {
    w.u32(call.index);
    w.str(call.id);
    w.str(call.name);
    w.str(call.arguments);
  }
  w.u8(result.report ? 1 : 0);
  if (!result.report) return;
  // A count is sent plus one, so that 0 stands for none.
  w.u64(result.report->prompt_tokens ? *result.report->prompt_tokens + 1 : 0);
  w.u64(result.report->completion_tokens ? *result.report->completion_tokens + 1 : 0);
  w.str(result.report->finish_reason);
}

void read_answer_events(WireReader &r, SessionResult &result) {
  result.tool_calls.resize(r.count(sizeof(uint32_t) + 3 * string_size));
  for (ToolCallDelta &call : result.tool_calls) {
    call.index = r.u32();
    r.str(call.id);
    r.str(call.name);
    r.str(call.arguments);
  }
  if (r.u8() == 0) return;
  UpstreamReport &report = result.report.emplace();
  auto count = [](uint64_t sent) { return sent == 0 ? std::nullopt : std::optional<uint64_t>(sent - 1); };
  report.prompt_tokens = count(r.u64());
  report.completion_tokens = count(r.u64());
  r.str(report.finish_reason);
}

bool read_spec(WireReader &r, ChatSpec &spec) {
  r.str(spec.provider);
  r.str(spec.model);
  spec.messages.resize(r.count(2 * string_size));
  for (Message &message : spec.messages) {
    r.str(message.role);
    r.str(message.content);
  }
  spec.stream = r.u8() != 0;
  r.str(spec.options_json);
  r.str(spec.passthrough_json);
  return r.ok();
}

void write_error(WireWriter &w, const ChatError &error) {
  w.u8(static_cast<uint8_t>(error.kind));
  w.str(error.provider);
  w.str(error.detail);
  w.u32(static_cast<uint32_t>(error.http_status));
}

bool read_error(WireReader &r, ChatError &error) {
  uint8_t kind = r.u8();
  if (kind >= static_cast<uint8_t>(ErrorKind::count)) r.fail();
  error.kind = static_cast<ErrorKind>(kind);
  r.str(error.provider);
  r.str(error.detail);
  error.http_status = static_cast<int>(r.u32());
  error.attempts.clear();
  return r.ok();
}

void write_meta(WireWriter &w, const ProviderMeta &meta) {
  w.str(meta.name);
  w.str(meta.version);
  w.str(meta.description);
  w.str(meta.url);
  w.u8(meta.working ? 1 : 0);
  w.str(meta.default_model);
  write_strings(w, meta.models);
  write_pairs(w, meta.aliases);
  write_strings(w, meta.capabilities);
}

bool read_meta(WireReader &r, ProviderMeta &meta) {
  r.str(meta.name);
  r.str(meta.version);
  r.str(meta.description);
  r.str(meta.url);
  meta.working = r.u8() != 0;
  r.str(meta.default_model);
  return read_strings(r, meta.models) && read_pairs(r, meta.aliases) && read_strings(r, meta.capabilities);
}

}  // namespace

void WireWriter::begin(FrameType type) {
  frame_start_ = out_.size();
  u32(0);
  u8(static_cast<uint8_t>(type));
}

void WireWriter::end() {
  auto length = static_cast<uint32_t>(out_.size() - frame_start_ - sizeof(uint32_t));
  std::memcpy(out_.data() + frame_start_, &length, sizeof length);
}

void WireWriter::str(std::string_view text) {
  u32(static_cast<uint32_t>(text.size()));
  out_.append(text);
}

bool WireReader::take(void *out, size_t size) {
  if (!ok_ || rest_.size() < size) {
    ok_ = false;
    std::memset(out, 0, size);
    return false;
  }
  std::memcpy(out, rest_.data(), size);
  rest_.remove_prefix(size);
  return true;
}

uint8_t WireReader::u8() {
  uint8_t value;
  take(&value, sizeof value);
  return value;
}

uint32_t WireReader::u32() {
  uint32_t value;
  take(&value, sizeof value);
  return value;
}

uint64_t WireReader::u64() {
  uint64_t value;
  take(&value, sizeof value);
  return value;
}

void WireReader::str(std::string &out) {
  uint32_t size = u32();
  if (!ok_ || rest_.size() < size) {
    ok_ = false;
    out.clear();
    return;
  }
  out.assign(rest_.data(), size);
  rest_.remove_prefix(size);
}

uint32_t WireReader::count(size_t min_item_size) {
  uint32_t value = u32();
  if (!ok_ || value > rest_.size() / min_item_size) {
    ok_ = false;
    return 0;
  }
  return value;
}

void write_settings(WireWriter &w, const HostSettings &settings) {
  w.begin(FrameType::settings);
  w.u32(static_cast<uint32_t>(settings.log_level));
  w.u32(static_cast<uint32_t>(settings.provider_config.size()));
  for (const auto &[name, value] : settings.provider_config) {
    w.str(name);
    w.str(value);
  }
  w.end();
}

bool read_settings(WireReader &r, HostSettings &settings) {
  settings.log_level = static_cast<ph_log_level>(r.u32());
  uint32_t count = r.count(2 * string_size);
  std::string name, value;
  for (uint32_t i = 0; i < count; ++i) {
    r.str(name);
    r.str(value);
    settings.provider_config[name] = value;
  }
  return r.at_end();
}

namespace {

// Where a body item's bytes are.
enum class Placement : uint8_t { frame = 0, region = 1 };

void write_body(WireWriter &w, const std::string &bytes, BodyRegion *region) {
  if (!region || bytes.empty() || bytes.size() > region->size - region->used) {
    w.u8(static_cast<uint8_t>(Placement::frame));
    return w.str(bytes);
  }
  std::memcpy(region->data + region->used, bytes.data(), bytes.size());
  w.u8(static_cast<uint8_t>(Placement::region));
  w.u32(static_cast<uint32_t>(region->used));
  w.u32(static_cast<uint32_t>(bytes.size()));
  region->used += bytes.size();
}

void read_body(WireReader &r, SessionWork &item, std::string_view region) {
  uint8_t placement = r.u8();
  if (placement == static_cast<uint8_t>(Placement::frame)) return r.str(item.bytes);
  uint32_t offset = r.u32();
  uint32_t size = r.u32();
  if (placement != static_cast<uint8_t>(Placement::region) || offset > region.size() || size > region.size() - offset ||
      size == 0) {
    return r.fail();
  }
  item.bytes.clear();
  item.shared = region.substr(offset, size);
}

}  // namespace

void write_work(WireWriter &w, Batch<SessionWork> &work, BodyRegion *region) {
  w.begin(FrameType::work);
  w.u32(static_cast<uint32_t>(work.size()));
  for (size_t i = 0; i < work.size(); ++i) {
    const SessionWork &item = work[i];
    w.u8(static_cast<uint8_t>(item.kind));
    w.u64(item.session);
    switch (item.kind) {
      case SessionWork::Kind::open:
        w.str(item.provider);
        w.str(item.model);
        write_spec(w, item.spec);
        break;
      case SessionWork::Kind::response_start:
        w.u32(static_cast<uint32_t>(item.status));
        write_pairs(w, item.headers);
        w.str(item.bytes);
        break;
      case SessionWork::Kind::body:
        write_body(w, item.bytes, region);
        break;
      default:
        break;
    }
  }
  w.end();
}

bool read_work(WireReader &r, Batch<SessionWork> &work, std::string_view region) {
  uint32_t count = r.count(1 + sizeof(uint64_t));
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    SessionWork &item = work.add();
    uint8_t kind = r.u8();
    if (kind > static_cast<uint8_t>(SessionWork::Kind::close)) r.fail();
    item.kind = static_cast<SessionWork::Kind>(kind);
    item.session = r.u64();
    switch (item.kind) {
      case SessionWork::Kind::open:
        r.str(item.provider);
        r.str(item.model);
        read_spec(r, item.spec);
        break;
      case SessionWork::Kind::response_start:
        item.status = static_cast<int>(r.u32());
        read_pairs(r, item.headers);
        r.str(item.bytes);
        break;
      case SessionWork::Kind::body:
        read_body(r, item, region);
        break;
      default:
        break;
    }
  }
  return r.at_end();
}

void write_results(WireWriter &w, Batch<SessionResult> &results) {
  using Kind = SessionResult::Kind;
  w.begin(FrameType::results);
  w.u32(static_cast<uint32_t>(results.size()));
  for (size_t i = 0; i < results.size(); ++i) {
    const SessionResult &result = results[i];
    w.u8(static_cast<uint8_t>(result.kind));
    w.u64(result.session);
    write_strings(w, result.warnings);
    w.str(result.text);
    w.u8(result.text_repaired ? 1 : 0);
    write_answer_events(w, result);
    switch (result.kind) {
      case Kind::request: {
        const detail::OutgoingRequest &request = result.request;
        w.str(request.method);
        w.str(request.url);
        write_pairs(w, request.headers);
        w.str(request.body);
        w.u32(request.timeout_ms);
        w.u32(request.retry.max_attempts);
        w.u32(request.retry.initial_backoff_ms);
        w.u32(request.retry.backoff_multiplier);
        w.u32(request.retry.retry_on);
        break;
      }
      case Kind::no_more_requests:
        w.u8(result.finished ? 1 : 0);
        break;
      case Kind::action:
        w.u32(static_cast<uint32_t>(result.action));
        w.str(result.bytes);
        break;
      case Kind::body_taken:
        w.u8(result.answer_complete ? 1 : 0);
        break;
      case Kind::failed:
        write_error(w, result.error);
        break;
      default:
        break;
    }
  }
  w.end();
}

bool read_results(WireReader &r, Batch<SessionResult> &results) {
  using Kind = SessionResult::Kind;
  uint32_t count = r.count(1 + sizeof(uint64_t) + 2 * string_size);
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    SessionResult &result = results.add();
    uint8_t kind = r.u8();
    if (kind > static_cast<uint8_t>(Kind::closed)) r.fail();
    result.kind = static_cast<Kind>(kind);
    result.session = r.u64();
    read_strings(r, result.warnings);
    r.str(result.text);
    result.text_repaired = r.u8() != 0;
    read_answer_events(r, result);
    switch (result.kind) {
      case Kind::request: {
        detail::OutgoingRequest &request = result.request;
        r.str(request.method);
        r.str(request.url);
        read_pairs(r, request.headers);
        r.str(request.body);
        request.timeout_ms = r.u32();
        request.retry.max_attempts = r.u32();
        request.retry.initial_backoff_ms = r.u32();
        request.retry.backoff_multiplier = r.u32();
        request.retry.retry_on = r.u32();
        break;
      }
      case Kind::no_more_requests:
        result.finished = r.u8() != 0;
        break;
      case Kind::action: {
        uint32_t action = r.u32();
        if (action > PH_RESPONSE_DISCARD) r.fail();
        result.action = static_cast<ph_response_action>(action);
        r.str(result.bytes);
        break;
      }
      case Kind::body_taken:
        result.answer_complete = r.u8() != 0;
        break;
      case Kind::failed:
        read_error(r, result.error);
        break;
      default:
        break;
    }
  }
  return r.at_end();
}

namespace {

void write_answer(WireWriter &w, const ScanAnswer &answer) {
  w.u8(answer.loaded ? 1 : 0);
  if (answer.loaded) {
    write_meta(w, answer.meta);
    w.u32(answer.abi_offered);
    w.u32(answer.abi_negotiated);
  } else {
    w.str(answer.error);
  }
}

bool read_answer(WireReader &r, ScanAnswer &answer) {
  answer.loaded = r.u8() != 0;
  if (answer.loaded) {
    read_meta(r, answer.meta);
    answer.abi_offered = r.u32();
    answer.abi_negotiated = r.u32();
  } else {
    r.str(answer.error);
  }
  return r.ok();
}

}  // namespace

void write_scan(WireWriter &w, const ScanAnswer &answer) {
  w.begin(FrameType::scan);
  write_answer(w, answer);
  w.end();
}

bool read_scan(WireReader &r, ScanAnswer &answer) { return read_answer(r, answer) && r.at_end(); }

void write_hello(WireWriter &w, const ScanAnswer &answer, bool sandboxed, const std::string &sandbox_error) {
  w.begin(FrameType::hello);
  write_answer(w, answer);
  w.u8(sandboxed ? 1 : 0);
  w.str(sandbox_error);
  w.end();
}

bool read_hello(WireReader &r, ScanAnswer &answer, bool &sandboxed, std::string &sandbox_error) {
  read_answer(r, answer);
  sandboxed = r.u8() != 0;
  r.str(sandbox_error);
  return r.at_end();
}

}  // namespace provhost::core::isolation
