#include "provhost/testing/contract.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <set>
#include <vector>

namespace provhost::testing {
namespace {

std::string_view view_of(ph_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }

bool in_range(unsigned char c, unsigned char low, unsigned char high) { return c >= low && c <= high; }

bool control_free(std::string_view text) {
  return std::none_of(text.begin(), text.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A metadata string: not malformed, UTF-8, no control character.
std::optional<std::string> string_defect(ph_str s, const std::string &field) {
  if (!s.data && s.size) return field + " has a NULL pointer and a size of " + std::to_string(s.size);
  if (!well_formed_utf8(view_of(s))) return field + " is not UTF-8: " + printable(view_of(s));
  if (!control_free(view_of(s))) return field + " contains a control character: " + printable(view_of(s));
  return std::nullopt;
}

template <class Item>
std::optional<std::string> array_defect(const Item *items, size_t count, const std::string &field) {
  if (!items && count) return field + " is NULL with a count of " + std::to_string(count);
  return std::nullopt;
}

}  // namespace

bool well_formed_utf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  auto byte = [&](size_t at) { return static_cast<unsigned char>(text[at]); };
  while (i < n) {
    const unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char second_low = 0x80, second_high = 0xBF;
    if (in_range(c, 0xC2, 0xDF)) {
      length = 2;
    } else if (c == 0xE0) {
      length = 3, second_low = 0xA0;
    } else if (in_range(c, 0xE1, 0xEC) || in_range(c, 0xEE, 0xEF)) {
      length = 3;
    } else if (c == 0xED) {
      length = 3, second_high = 0x9F;
    } else if (c == 0xF0) {
      length = 4, second_low = 0x90;
    } else if (in_range(c, 0xF1, 0xF3)) {
      length = 4;
    } else if (c == 0xF4) {
      length = 4, second_high = 0x8F;
    } else {
      return false;
    }
    if (n - i < length || !in_range(byte(i + 1), second_low, second_high)) return false;
    for (size_t k = 2; k < length; ++k)
      if (!in_range(byte(i + k), 0x80, 0xBF)) return false;
    i += length;
  }
  return true;
}

bool one_line(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

bool http_token(std::string_view text) {
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    const bool alnum = in_range(c, '0', '9') || in_range(c, 'a', 'z') || in_range(c, 'A', 'Z');
    return alnum || std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
  });
}

bool http_field_value(std::string_view text) {
  if (!one_line(text)) return false;
  return text.empty() || (text.front() != ' ' && text.front() != '\t' && text.back() != ' ' && text.back() != '\t');
}

std::string printable(std::string_view bytes, size_t limit) {
  std::string out;
  for (unsigned char c : bytes.substr(0, limit)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    }
  }
  if (bytes.size() > limit) out += "...";
  return out;
}

std::optional<std::string> request_defect(const ph_http_request &request) {
  if (!request.method.data && request.method.size) return "the request's method is NULL";
  if (!request.url.data && request.url.size) return "the request's URL is NULL";
  const std::string_view method = view_of(request.method), url = view_of(request.url);
  if (!http_token(method)) return "the request's method is not a token: " + printable(method);
  const bool absolute = url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
  const size_t authority = url.find("//") + 2;
  if (!absolute || url.size() <= authority || url[authority] == '/')
    return "the request's URL is not an absolute http(s) URL: " + printable(url);
  if (std::any_of(url.begin(), url.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return "the request's URL contains a space or a control character: " + printable(url);
  if (request.header_count && !request.headers) return "the request's headers are NULL with a count above 0";
  if (request.body.size && !request.body.data) return "the request's body is NULL with a size above 0";
  for (size_t i = 0; i < request.header_count; ++i) {
    const ph_header &header = request.headers[i];
    if ((!header.name.data && header.name.size) || (!header.value.data && header.value.size))
      return "the request's header " + std::to_string(i) + " has a NULL pointer";
    if (!http_token(view_of(header.name)))
      return "the request's header name is not a token: " + printable(view_of(header.name));
    if (!http_field_value(view_of(header.value)))
      return "the request's header " + printable(view_of(header.name)) +
             " has a value with a control character or surrounding whitespace: " + printable(view_of(header.value));
  }
  if (const ph_retry_policy *retry = request.retry) {
    if (retry->struct_size < sizeof *retry) return "the request's retry policy has a struct_size that is too small";
    if (retry->max_attempts < 1 || retry->backoff_multiplier < 1)
      return "the request's retry policy asks for no attempt or a backoff multiplier of 0";
  }
  return std::nullopt;
}

std::optional<std::string> message_defect(std::string_view kind, std::string_view message) {
  if (!well_formed_utf8(message)) return std::string(kind) + " message is not UTF-8: " + printable(message);
  if (!one_line(message)) return std::string(kind) + " message is not one line: " + printable(message);
  return std::nullopt;
}

std::optional<std::string> metadata_defect(const ph_provider &provider) {
  constexpr size_t provider_required = offsetof(ph_provider, session_close) + sizeof(provider.session_close);
  if (provider.struct_size < provider_required) return "ph_provider.struct_size does not cover session_close";
  if (!provider.session_open || !provider.next_request || !provider.on_response_start || !provider.on_body ||
      !provider.on_response_end || !provider.session_close)
    return "a session function is NULL";
  const ph_provider_info *info = provider.info;
  if (!info) return "the provider has no info (NULL)";
  if (info->struct_size < offsetof(ph_provider_info, model_count) + sizeof(info->model_count))
    return "ph_provider_info.struct_size does not cover model_count";
  const std::string_view name = view_of(info->name);
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
        return in_range(static_cast<unsigned char>(c), 'a', 'z') || in_range(static_cast<unsigned char>(c), 'A', 'Z') ||
               in_range(static_cast<unsigned char>(c), '0', '9') || c == '_' || c == '-';
      }))
    return "the provider's name is not [A-Za-z0-9_-]+: " + printable(name);
  const std::pair<ph_str, const char *> strings[] = {{info->version, "version"},
                                                     {info->description, "description"},
                                                     {info->url, "url"},
                                                     {info->default_model, "default_model"}};
  for (const auto &[value, field] : strings)
    if (auto defect = string_defect(value, field)) return defect;
  if (auto defect = array_defect(info->models, info->model_count, "models")) return defect;
  std::multiset<std::string_view> models;
  for (size_t i = 0; i < info->model_count; ++i) {
    if (auto defect = string_defect(info->models[i], "models[" + std::to_string(i) + "]")) return defect;
    if (!info->models[i].size) return "models[" + std::to_string(i) + "] is empty";
    models.insert(view_of(info->models[i]));
  }
  if (!models.empty() && models.count(view_of(info->default_model)) != 1)
    return "default_model " + printable(view_of(info->default_model)) + " is not among the models exactly once";
  if (PH_HAS_FIELD(info, ph_provider_info, alias_count)) {
    if (auto defect = array_defect(info->aliases, info->alias_count, "aliases")) return defect;
    for (size_t i = 0; i < info->alias_count; ++i) {
      const std::string field = "aliases[" + std::to_string(i) + "]";
      if (auto defect = string_defect(info->aliases[i].alias, field)) return defect;
      if (auto defect = string_defect(info->aliases[i].model, field)) return defect;
      if (!models.empty() && !models.count(view_of(info->aliases[i].model)))
        return field + " points at an unknown model " + printable(view_of(info->aliases[i].model));
    }
  }
  if (PH_HAS_FIELD(info, ph_provider_info, capability_count)) {
    if (auto defect = array_defect(info->capabilities, info->capability_count, "capabilities")) return defect;
    for (size_t i = 0; i < info->capability_count; ++i)
      if (auto defect = string_defect(info->capabilities[i], "capabilities[" + std::to_string(i) + "]")) return defect;
  }
  return std::nullopt;
}

}  // namespace provhost::testing
