// ChatgptFree: a WordPress chat widget. A nonce scraped from the home page (cached per provider) authorises
// a form POST to admin-ajax.php; the answer is either an SSE-like stream of delta chunks ended by
// `data: [DONE]` or one buffered JSON object {"data": "..."}. See README.md.
#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <provhost/framing.hpp>
#include <provhost/openai/json.hpp>
#include <provhost/openai/openai_stream.hpp>
#include <provhost/plugins/messages.hpp>
#include <provhost/provider.hpp>
#include <utility>

namespace {

using namespace provhost;
using namespace provhost::plugins;
using namespace provhost::openai;

constexpr const char *kOrigin = "https://chatgptfree.ai";
constexpr uint32_t kTimeoutMs = 120'000;
// The home page and a buffered answer are held whole; a response this large is neither.
constexpr size_t kMaxBufferedBytes = 16 << 20;

ProviderInfo chatgptfree_info() {
  ProviderInfo info;
  info.name = "ChatgptFree";
  info.description = "chatgptfree.ai, a WordPress chat widget (gpt4free's ChatgptFree)";
  info.url = kOrigin;
  info.working = true;
  info.default_model = "gpt-4o-mini-2024-07-18";
  info.models = {info.default_model};
  info.aliases = {{"gpt-4o-mini", info.default_model}};
  info.capabilities = {capability::stream, capability::message_history, capability::system_message};
  return info;
}

// ---- The nonce, from the home page and cached ------------------------------------------------------------

struct PageNonce {
  std::string post_id;
  std::string nonce;
};

// WordPress nonces stay valid for hours, so one page fetch serves every later chat of the provider.
class NonceCache {
 public:
  std::optional<PageNonce> get() const {
    std::lock_guard lock(mutex_);
    return value_;
  }
  void store(const PageNonce &nonce) {
    std::lock_guard lock(mutex_);
    value_ = nonce;
  }
  // Only the nonce that failed: another session may already have cached a fresh one.
  void forget(const PageNonce &stale) {
    std::lock_guard lock(mutex_);
    if (value_ && value_->nonce == stale.nonce && value_->post_id == stale.post_id) value_.reset();
  }

 private:
  mutable std::mutex mutex_;
  std::optional<PageNonce> value_;
};

// The value of the first `name="..."` in `html` whose value `accept`s, as a regex search would find it.
template <class Accept>
std::optional<std::string> find_attribute(std::string_view html, std::string_view name, Accept &&accept) {
  const std::string opening = std::string(name) + "=\"";
  for (size_t at = html.find(opening); at != std::string_view::npos; at = html.find(opening, at + 1)) {
    const size_t start = at + opening.size();
    const size_t end = html.find('"', start);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view value = html.substr(start, end - start);
    if (accept(value)) return std::string(value);
  }
  return std::nullopt;
}

PageNonce read_nonce_page(std::string_view html) {
  auto post_id = find_attribute(html, "data-post-id", [](std::string_view value) {
    return !value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos;
  });
  if (!post_id) throw ProviderError(Failure::protocol, "no post id found");
  // The original's `data-nonce="(.*?)"`: any characters but a line break, up to the next quote.
  auto nonce = find_attribute(
      html, "data-nonce", [](std::string_view value) { return value.find_first_of("\r\n") == std::string_view::npos; });
  if (!nonce) throw ProviderError(Failure::protocol, "no nonce found");
  return PageNonce{*post_id, *nonce};
}

// ---- Request building ----------------------------------------------------------------------------------

// gpt4free's format_prompt: one message as it is; a conversation as "Role: content" lines for the widget's
// single text field, blank messages left out, ending with the assistant's cue.
std::string format_prompt(const std::vector<Message> &messages) {
  if (messages.size() == 1) return messages.front().content;
  std::string prompt;
  for (const Message &message : messages) {
    if (trim(message.content).empty()) continue;
    std::string role = message.role;
    for (size_t i = 0; i < role.size(); ++i)
      role[i] = static_cast<char>(i == 0 ? std::toupper(static_cast<unsigned char>(role[i]))
                                         : std::tolower(static_cast<unsigned char>(role[i])));
    if (!prompt.empty()) prompt += "\n";
    prompt += role + ": " + message.content;
  }
  return prompt + "\nAssistant:";
}

std::string chat_prompt(const ChatRequest &chat) {
  require_messages(chat);
  return format_prompt(chat.messages);
}

// application/x-www-form-urlencoded as Python's urlencode writes it: space as '+', only [A-Za-z0-9_.~-] bare.
std::string form_encode(const std::vector<std::pair<std::string, std::string>> &fields) {
  static const char hex[] = "0123456789ABCDEF";
  auto escape = [](std::string_view text, std::string &out) {
    for (unsigned char c : text) {
      if (std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~') {
        out.push_back(static_cast<char>(c));
      } else if (c == ' ') {
        out.push_back('+');
      } else {
        out.push_back('%');
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
      }
    }
  };
  std::string out;
  for (const auto &[name, value] : fields) {
    if (!out.empty()) out.push_back('&');
    escape(name, out);
    out.push_back('=');
    escape(value, out);
  }
  return out;
}

// The caller's cookies (an object name -> value) as one Cookie header value; "" when there are none.
std::string cookie_header(const std::string &options_json) {
  rapidjson::Document options = parse_options(options_json);
  auto cookies = options.FindMember("cookies");
  if (cookies == options.MemberEnd() || cookies->value.IsNull()) return {};
  if (!cookies->value.IsObject())
    throw ProviderError(Failure::bad_request, "the cookies option must be an object of name -> value");
  std::string header;
  for (const auto &cookie : cookies->value.GetObject()) {
    const std::string name(as_view(cookie.name));
    if (!cookie.value.IsString()) throw ProviderError(Failure::bad_request, "the cookie " + name + " is not a string");
    const std::string pair = name + "=" + std::string(as_view(cookie.value));
    // A header value is visible characters, spaces and tabs (RFC 9110, 5.5): a line break would
    // smuggle a header of its own into the request, and other control characters are not HTTP.
    auto control = [](char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; };
    if (std::any_of(pair.begin(), pair.end(), control))
      throw ProviderError(Failure::bad_request, "the cookie " + name + " contains a control character");
    if (!header.empty()) header += "; ";
    header += pair;
  }
  return header;
}

// The same browser headers on both steps, as the original's one session sent them.
std::vector<Header> browser_headers(const std::string &cookies) {
  std::vector<Header> headers = {
      {"accept", "*/*"},
      {"accept-language", "en,fr-FR;q=0.9,fr;q=0.8,es-ES;q=0.7,es;q=0.6,en-US;q=0.5,am;q=0.4,de;q=0.3"},
      {"origin", kOrigin},
      {"referer", std::string(kOrigin) + "/chat/"},
      {"sec-ch-ua", "\"Chromium\";v=\"118\", \"Google Chrome\";v=\"118\", \"Not=A?Brand\";v=\"99\""},
      {"sec-ch-ua-mobile", "?0"},
      {"sec-ch-ua-platform", "\"macOS\""},
      {"sec-fetch-dest", "empty"},
      {"sec-fetch-mode", "cors"},
      {"sec-fetch-site", "same-origin"},
      {"user-agent",
       "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36"},
  };
  if (!cookies.empty()) headers.push_back({"cookie", cookies});
  return headers;
}

HttpRequest page_request(const std::string &cookies) {
  HttpRequest request;
  request.method = "GET";
  request.url = std::string(kOrigin) + "/";
  request.headers = browser_headers(cookies);
  request.timeout_ms = kTimeoutMs;
  return request;
}

HttpRequest answer_request(const std::string &cookies, const PageNonce &nonce, const std::string &prompt) {
  HttpRequest request;
  request.method = "POST";
  request.url = std::string(kOrigin) + "/wp-admin/admin-ajax.php";
  request.headers = browser_headers(cookies);
  request.headers.push_back({"content-type", "application/x-www-form-urlencoded"});
  request.body = form_encode({
      {"_wpnonce", nonce.nonce},
      {"post_id", nonce.post_id},
      {"url", kOrigin},
      {"action", "wpaicg_chat_shortcode_message"},
      {"message", prompt},
      {"bot_id", "0"},
  });
  request.timeout_ms = kTimeoutMs;
  return request;
}

// A Cloudflare challenge also answers 403, but a fresh nonce would not get past it.
bool is_cloudflare_challenge(const std::vector<Header> &headers) {
  for (const Header &header : headers) {
    std::string name = header.name;
    for (char &c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "cf-mitigated") return true;
  }
  return false;
}

// ---- The session: page (when needed), question, answer ----------------------------------------------------

class ChatgptFreeSession : public Session {
 public:
  ChatgptFreeSession(const ChatRequest &chat, Events events, const ProviderContext &, NonceCache &cache)
      : Session(events), cache_(cache), prompt_(chat_prompt(chat)), cookies_(cookie_header(chat.options_json)) {}

  std::optional<HttpRequest> next_request() override {
    if (answer_started_) return std::nullopt;
    if (!nonce_ && !must_fetch_page_) {
      nonce_ = cache_.get();
      nonce_is_cached_ = nonce_.has_value();
    }
    if (!nonce_) {
      reading_ = Reading::page;
      return page_request(cookies_);
    }
    reading_ = Reading::answer;
    return answer_request(cookies_, *nonce_, prompt_);
  }

  ResponseAction on_response_start(int status, const std::vector<Header> &headers) override {
    if (reading_ == Reading::answer && status == 403 && nonce_is_cached_ && !is_cloudflare_challenge(headers)) {
      // Most likely the cached nonce expired; this session's own fresh nonce gets no second chance.
      cache_.forget(*nonce_);
      nonce_.reset();
      nonce_is_cached_ = false;
      must_fetch_page_ = true;
      return ResponseAction::discard;
    }
    if (reading_ == Reading::answer) answer_started_ = true;
    return Session::on_response_start(status, headers);
  }

  void on_body(std::string_view chunk) override {
    if (reading_ == Reading::page) {
      hold(page_, chunk);
    } else {
      lines_.feed(
          chunk, [&](std::string_view rest) { return stream_reader_.take_line(rest, events()); },
          [&](std::string_view line) { read_answer_line(line); });
    }
  }

  void on_response_end() override {
    if (reading_ == Reading::page) {
      nonce_ = read_nonce_page(page_);
      cache_.store(*nonce_);
      page_.clear();
      return;
    }
    lines_.finish([&](std::string_view line) { read_answer_line(line); });
    if (!events().finished() && !collected_.empty()) read_collected_answer();
  }

 private:
  enum class Reading { page, answer };

  static void hold(std::string &buffer, std::string_view more) {
    if (buffer.size() + more.size() > kMaxBufferedBytes)
      throw ProviderError(Failure::protocol, "the response is larger than 16 MiB");
    buffer.append(more);
  }

  void read_answer_line(std::string_view raw) {
    if (events().finished()) return;
    const std::string_view line = trim(raw);
    // Not a stream line: part of a plain JSON answer, joined without separators as the original did.
    if (!stream_reader_.read_line(line, events()) && !line.empty()) hold(collected_, line);
  }

  // The widget's non-streaming shape: {"data": "<the whole answer>"}.
  void read_collected_answer() {
    rapidjson::Document answer;
    // A document cut short is a truncated answer: no finish, and the host says so.
    if (!parse_json(collected_, answer) && ended_early(answer, collected_)) return;
    if (!answer.HasParseError()) {
      throw_if_error(answer);
      if (answer.IsObject()) {
        auto data = answer.FindMember("data");
        if (data != answer.MemberEnd() && data->value.IsString()) {
          const std::optional<std::string_view> text = utf8_text(data->value);
          if (!text) throw ProviderError(Failure::protocol, "the answer's text is not UTF-8");
          events().text(*text);
          events().finish();
          return;
        }
      }
    }
    throw ProviderError(Failure::protocol, "unexpected answer: " + excerpt(collected_));
  }

  NonceCache &cache_;
  const std::string prompt_;
  const std::string cookies_;
  std::optional<PageNonce> nonce_;
  bool nonce_is_cached_ = false;  // taken from the cache, not fetched by this session
  bool must_fetch_page_ = false;  // after a stale nonce: never the cache again
  bool answer_started_ = false;
  Reading reading_ = Reading::page;
  std::string page_;
  LineFramer lines_;
  OpenAiStreamReader stream_reader_;
  std::string collected_;
};

}  // namespace

// The nonce cache is the provider's: one page fetch serves all its sessions.
using ChatgptFree = SimpleProvider<ChatgptFreeSession, chatgptfree_info, NonceCache>;

PROVHOST_PLUGIN(ChatgptFree)
