// provhost::SimpleProvider, driven through the C ABI its glue exports: the metadata comes from the plugin's
// function, each session gets the request, its events and the provider's context, and shared state is one
// instance for every session of the provider.
#include <catch2/catch.hpp>
#include <memory>
#include <provhost/provider.hpp>
#include <string>
#include <vector>

namespace {

using namespace provhost;

ProviderInfo tiny_info() {
  ProviderInfo info;
  info.name = "Tiny";
  info.url = "https://tiny.example";
  info.default_model = "small";
  info.models = {"small", "large"};
  return info;
}

// The one request says what the session was given: the provider's URL, the model, a configuration value.
class TinySession : public Session {
 public:
  TinySession(const ChatRequest &chat, Events events, const ProviderContext &provider) : Session(events) {
    if (chat.messages.empty()) throw ProviderError(Failure::bad_request, "nothing to say");
    request_.url = provider.info.url + "/" + chat.model + "?key=" + provider.host.config("key");
  }
  std::optional<HttpRequest> next_request() override {
    if (sent_) return std::nullopt;
    sent_ = true;
    return request_;
  }
  void on_body(std::string_view chunk) override { events().text(chunk); }

 private:
  HttpRequest request_;
  bool sent_ = false;
};

struct Counter {
  int sessions = 0;
};

// Counts the sessions of its provider in the shared Counter and answers with the count.
class CountingSession : public Session {
 public:
  CountingSession(const ChatRequest &, Events events, const ProviderContext &, Counter &counter)
      : Session(events), number_(++counter.sessions) {}
  std::optional<HttpRequest> next_request() override {
    if (sent_) return std::nullopt;
    sent_ = true;
    HttpRequest request;
    request.url = "https://count.example/" + std::to_string(number_);
    return request;
  }
  void on_body(std::string_view) override {}

 private:
  int number_;
  bool sent_ = false;
};

ProviderInfo counting_info() {
  ProviderInfo info = tiny_info();
  info.name = "Counting";
  return info;
}

using Tiny = SimpleProvider<TinySession, tiny_info>;
using Counting = SimpleProvider<CountingSession, counting_info, Counter>;

// A host whose only configuration value is key=secret.
ph_host configured_host() {
  ph_host host{};
  host.struct_size = sizeof host;
  host.get_config = [](const ph_host *, ph_str key) {
    static const std::string secret = "secret";
    return view(key) == "key" ? str(secret) : ph_str{nullptr, 0};
  };
  return host;
}

template <class ProviderClass>
const ph_provider &load(const ph_host &host) {
  ph_entry_args args{};
  args.struct_size = sizeof args;
  args.host_abi_version = PH_ABI_VERSION;
  args.host = &host;
  REQUIRE(detail::PluginGlue<ProviderClass>::entry(&args) == PH_OK);
  REQUIRE(args.provider);
  return *args.provider;
}

// A session of `provider` for one message in `model`; its errors, if any, land in `errors`.
struct OpenSession {
  ph_session_events events{};
  ph_session *session = nullptr;
  ph_status status = PH_FAILED;
  std::vector<std::string> errors;

  OpenSession(const ph_provider &provider, const std::string &model, bool with_message = true) {
    events.struct_size = sizeof events;
    events.host_data = this;
    events.error = [](const ph_session_events *e, ph_failure, ph_str message) {
      static_cast<OpenSession *>(e->host_data)->errors.emplace_back(view(message));
    };
    const ph_message message{str("user"), str("Hi")};
    ph_chat_request request{};
    request.struct_size = sizeof request;
    request.model = str(model);
    request.messages = with_message ? &message : nullptr;
    request.message_count = with_message ? 1 : 0;
    request.options_json = str("{}");
    status = provider.session_open(&provider, &request, &events, &session);
    close = provider.session_close;
  }
  ~OpenSession() {
    if (session) close(session);
  }
  OpenSession(const OpenSession &) = delete;
  OpenSession &operator=(const OpenSession &) = delete;

  std::string url(const ph_provider &provider) {
    ph_http_request out{};
    out.struct_size = sizeof out;
    REQUIRE(provider.next_request(session, &out) == PH_OK);
    return std::string(view(out.url));
  }

 private:
  void (*close)(ph_session *) = nullptr;
};

}  // namespace

TEST_CASE("SimpleProvider describes itself with the plugin's metadata function") {
  const ph_host host = configured_host();
  const ph_provider &provider = load<Tiny>(host);
  CHECK(view(provider.info->name) == "Tiny");
  CHECK(view(provider.info->default_model) == "small");
  REQUIRE(provider.info->model_count == 2);
  CHECK(view(provider.info->models[1]) == "large");
  provider.deinit(&provider);
}

TEST_CASE("SimpleProvider opens a session with the request, the provider's metadata and the host") {
  const ph_host host = configured_host();
  const ph_provider &provider = load<Tiny>(host);
  {
    OpenSession session(provider, "large");
    REQUIRE(session.status == PH_OK);
    CHECK(session.url(provider) == "https://tiny.example/large?key=secret");
  }
  provider.deinit(&provider);
}

TEST_CASE("SimpleProvider: a session that refuses its request fails the open with the reason") {
  const ph_host host = configured_host();
  const ph_provider &provider = load<Tiny>(host);
  OpenSession session(provider, "small", false);
  CHECK(session.status == PH_FAILED);
  CHECK(session.session == nullptr);
  CHECK(session.errors == std::vector<std::string>{"nothing to say"});
  provider.deinit(&provider);
}

TEST_CASE("SimpleProvider hands every session of the provider the same shared state") {
  const ph_host host = configured_host();
  const ph_provider &provider = load<Counting>(host);
  {
    OpenSession first(provider, "small"), second(provider, "small"), third(provider, "small");
    CHECK(first.url(provider) == "https://count.example/1");
    CHECK(second.url(provider) == "https://count.example/2");
    CHECK(third.url(provider) == "https://count.example/3");
  }
  provider.deinit(&provider);
}
