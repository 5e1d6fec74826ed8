/*
 * CEcho's unit test, in C: it drives the plugin through provhost.h as the host does (a host table, an
 * events table that records, a session from open to close) and exits non-zero on the first failed check.
 */
#include <provhost/provhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(condition)                                                            \
  do {                                                                              \
    if (!(condition)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      exit(1);                                                                      \
    }                                                                               \
  } while (0)

static const char *configured_api_key = "";

static void PH_ABI host_log(const ph_host *h, ph_log_level level, ph_str message) {
  (void)h, (void)level, (void)message;
}
static int64_t PH_ABI host_now(const ph_host *h) {
  (void)h;
  return 0;
}
static void PH_ABI host_random(const ph_host *h, void *buffer, size_t size) {
  (void)h;
  memset(buffer, 0, size);
}
static ph_str PH_ABI host_config(const ph_host *h, ph_str key) {
  ph_str none = {NULL, 0}, value = {configured_api_key, strlen(configured_api_key)};
  (void)h;
  return key.size == 7 && memcmp(key.data, "api_key", 7) == 0 && value.size ? value : none;
}
static const ph_host host = {sizeof(ph_host), NULL,        {"test", 4}, {"1", 1}, host_log,
                             host_now,        host_random, host_config, NULL};

/* What a session reported. */
typedef struct recorder {
  ph_session_events table;
  char text[256];
  size_t text_size;
  int finishes, errors;
  ph_failure failure;
} recorder;

static recorder *owner(const ph_session_events *events) { return (recorder *)events->host_data; }
static void PH_ABI on_text(const ph_session_events *events, ph_str text) {
  recorder *r = owner(events);
  CHECK(r->finishes == 0 && r->errors == 0 && text.size > 0);
  CHECK(r->text_size + text.size <= sizeof r->text);
  memcpy(r->text + r->text_size, text.data, text.size);
  r->text_size += text.size;
}
static void PH_ABI on_finish(const ph_session_events *events) { owner(events)->finishes++; }
static void PH_ABI on_warning(const ph_session_events *events, ph_str message) { (void)events, (void)message; }
static void PH_ABI on_error(const ph_session_events *events, ph_failure failure, ph_str message) {
  owner(events)->errors++;
  owner(events)->failure = failure;
  (void)message;
}

static void start_recording(recorder *r) {
  memset(r, 0, sizeof *r);
  r->table.struct_size = sizeof r->table;
  r->table.host_data = r;
  r->table.text = on_text;
  r->table.finish = on_finish;
  r->table.warning = on_warning;
  r->table.error = on_error;
}

static const ph_provider *load(void) {
  ph_entry_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.host_abi_version = PH_MAKE_VERSION(1, 9); /* a newer host: the plugin speaks its own minor */
  args.host = &host;
  CHECK(provhost_plugin_entry(&args) == PH_OK);
  CHECK(args.plugin_abi_version == PH_ABI_VERSION);
  return args.provider;
}

static int equals(ph_str s, const char *expected) {
  return s.size == strlen(expected) && memcmp(s.data, expected, s.size) == 0;
}

/* What a request held; its own copy, for the session's views die with the session. */
typedef struct sent_request {
  char method[8], url[64], body[32], authorization[32];
  size_t header_count;
} sent_request;

static void copy(char *to, size_t room, ph_str from) {
  CHECK(from.size < room);
  memcpy(to, from.data, from.size);
  to[from.size] = 0;
}

static void remember(sent_request *sent, const ph_http_request *request) {
  memset(sent, 0, sizeof *sent);
  copy(sent->method, sizeof sent->method, request->method);
  copy(sent->url, sizeof sent->url, request->url);
  copy(sent->body, sizeof sent->body, request->body);
  sent->header_count = request->header_count;
  for (size_t i = 0; i < request->header_count; ++i) {
    if (equals(request->headers[i].name, "Authorization"))
      copy(sent->authorization, sizeof sent->authorization, request->headers[i].value);
  }
}

/* One chat of `prompt`, answered with `answer` in two chunks cut at `split`. */
static void chat(const ph_provider *provider, const char *prompt, const char *answer, size_t split, recorder *r,
                 sent_request *sent) {
  ph_message message = {{"user", 4}, {prompt, strlen(prompt)}};
  ph_chat_request chat_request = {sizeof chat_request, {"echo-1", 6}, &message, 1, 1, {"{}", 2}};
  ph_session *session = NULL;
  ph_http_request request;
  const ph_str first = {answer, split}, second = {answer + split, strlen(answer) - split};
  start_recording(r);
  CHECK(provider->session_open(provider, &chat_request, &r->table, &session) == PH_OK && session);
  memset(&request, 0, sizeof request);
  request.struct_size = sizeof request;
  CHECK(provider->next_request(session, &request) == PH_OK);
  remember(sent, &request);
  CHECK(provider->on_response_start(session, 200, NULL, 0) == PH_RESPONSE_READ);
  CHECK(provider->on_body(session, first) == PH_OK);
  CHECK(provider->on_body(session, second) == PH_OK);
  CHECK(provider->on_response_end(session) == PH_OK);
  CHECK(provider->next_request(session, &request) == PH_DONE);
  provider->session_close(session);
}

int main(void) {
  const ph_provider *provider = load();
  const char *answer = "h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80"; /* "héllo ✓ 😀": 2-, 3- and 4-byte characters */
  sent_request request;
  recorder r;

  CHECK(equals(provider->info->name, "CEcho") && equals(provider->info->default_model, "echo-1"));

  /* The request carries the prompt, and the key only when it is configured. */
  chat(provider, "hi there", "x", 0, &r, &request);
  CHECK(!strcmp(request.method, "POST") && !strcmp(request.url, "https://echo.example.com/v1/echo/plain"));
  CHECK(!strcmp(request.body, "hi there") && request.header_count == 1);
  configured_api_key = "sk-test";
  chat(provider, "hi", "x", 0, &r, &request);
  CHECK(request.header_count == 2 && !strcmp(request.authorization, "Bearer sk-test"));

  /* Cut anywhere, even inside a character, the answer arrives whole, in whole characters, finished once. */
  for (size_t split = 0; split <= strlen(answer); ++split) {
    chat(provider, "hi", answer, split, &r, &request);
    CHECK(r.text_size == strlen(answer) && memcmp(r.text, answer, r.text_size) == 0);
    CHECK(r.finishes == 1 && r.errors == 0);
  }

  /* Bytes that are not UTF-8, and a character the answer's end cuts short, become U+FFFD. */
  chat(provider, "hi",
       "a\xFF"
       "b\xE2\x9C",
       2, &r, &request);
  CHECK(r.text_size == 8 && memcmp(r.text,
                                   "a\xEF\xBF\xBD"
                                   "b\xEF\xBF\xBD",
                                   8) == 0);

  { /* A chat without a user message is refused with a reason, and no session is left to close. */
    ph_message system = {{"system", 6}, {"be brief", 8}};
    ph_chat_request chat_request = {sizeof chat_request, {"echo-1", 6}, &system, 1, 1, {"{}", 2}};
    ph_session *session = NULL;
    start_recording(&r);
    CHECK(provider->session_open(provider, &chat_request, &r.table, &session) == PH_FAILED);
    CHECK(session == NULL && r.errors == 1 && r.failure == PH_FAIL_BAD_REQUEST);
  }
  puts("CEcho: all checks passed");
  return 0;
}
