/*
 * CEcho: a complete provider plugin in plain C99, for the simplest "echo" protocol:
 *
 *   POST https://echo.example.com/v1/echo/plain   the last user message as the body (text/plain)
 *   Authorization: Bearer KEY                     when the configuration has api_key
 *   200, text/plain                               the answer itself, streamed; its end ends the answer
 *
 * Build it out of tree against the installed SDK (see CMakeLists.txt).
 */
#include <provhost/provhost.h>
#include <stdlib.h>
#include <string.h>

#define LITERAL(text) \
  { text, sizeof text - 1 }

static const ph_host *host; /* the host's services; valid until the plugin is unloaded */

static const ph_str models[] = {LITERAL("echo-1")};
static const ph_str capabilities[] = {LITERAL(PH_CAP_STREAM)};
static const ph_provider_info info = {
    .struct_size = sizeof(ph_provider_info),
    .name = LITERAL("CEcho"),
    .version = LITERAL("1.0.0"),
    .description = LITERAL("Echoes the last user message as plain text"),
    .url = LITERAL("https://echo.example.com"),
    .working = 1,
    .default_model = LITERAL("echo-1"),
    .models = models,
    .model_count = 1,
    .capabilities = capabilities,
    .capability_count = 1,
};

struct ph_session {
  const ph_session_events *events;
  char *prompt;
  size_t prompt_size;
  char *authorization; /* "Bearer KEY", or NULL */
  ph_header headers[2];
  int sent;
  unsigned char tail[4]; /* the start of a character that the last chunk cut */
  size_t tail_size;
};

static void fail(const ph_session_events *events, ph_failure failure, const char *message) {
  ph_str text = {message, strlen(message)};
  events->error(events, failure, text);
}

static ph_status PH_ABI session_open(const ph_provider *provider, const ph_chat_request *request,
                                     const ph_session_events *events, ph_session **out_session) {
  const ph_message *prompt = NULL;
  ph_session *session;
  (void)provider;
  *out_session = NULL;
  for (size_t i = 0; i < request->message_count; ++i) {
    const ph_str role = request->messages[i].role;
    if (role.size == 4 && memcmp(role.data, "user", 4) == 0) prompt = &request->messages[i];
  }
  if (!prompt || !prompt->content.size) {
    fail(events, PH_FAIL_BAD_REQUEST, "CEcho needs a user message");
    return PH_FAILED;
  }
  session = calloc(1, sizeof *session);
  if (session) session->prompt = malloc(prompt->content.size);
  if (!session || !session->prompt) {
    free(session);
    fail(events, PH_FAIL_INTERNAL, "out of memory");
    return PH_FAILED;
  }
  memcpy(session->prompt, prompt->content.data, prompt->content.size);
  session->prompt_size = prompt->content.size;
  session->events = events;
  if (PH_HAS_FIELD(host, ph_host, get_config) && host->get_config) {
    const ph_str key = host->get_config(host, (ph_str)LITERAL("api_key"));
    if (key.size && (session->authorization = malloc(key.size + 8))) {
      memcpy(session->authorization, "Bearer ", 7);
      memcpy(session->authorization + 7, key.data, key.size);
      session->headers[1].name = (ph_str)LITERAL("Authorization");
      session->headers[1].value = (ph_str){session->authorization, key.size + 7};
    }
  }
  session->headers[0].name = (ph_str)LITERAL("Content-Type");
  session->headers[0].value = (ph_str)LITERAL("text/plain; charset=utf-8");
  *out_session = session;
  return PH_OK;
}

static ph_status PH_ABI next_request(ph_session *session, ph_http_request *out) {
  if (session->sent) return PH_DONE; /* one request answers the chat */
  session->sent = 1;
  out->method = (ph_str)LITERAL("POST");
  out->url = (ph_str)LITERAL("https://echo.example.com/v1/echo/plain");
  out->headers = session->headers;
  out->header_count = session->authorization ? 2 : 1;
  out->body = (ph_str){session->prompt, session->prompt_size};
  if (PH_HAS_FIELD(out, ph_http_request, timeout_ms)) out->timeout_ms = 0;
  if (PH_HAS_FIELD(out, ph_http_request, retry)) out->retry = NULL;
  return PH_OK;
}

static ph_response_action PH_ABI on_response_start(ph_session *session, int32_t status, const ph_header *headers,
                                                   size_t header_count) {
  (void)session, (void)headers, (void)header_count;
  return status >= 200 && status < 300 ? PH_RESPONSE_READ : PH_RESPONSE_HTTP_ERROR;
}

/* Bytes of the well-formed UTF-8 character at `at` (Unicode's table 3-7): 1 to 4; 0 when none starts there;
 * -1 when the `size` bytes left are the start of one that goes on past them. */
static int character_size(const unsigned char *at, size_t size) {
  const unsigned char lead = at[0];
  unsigned char low = 0x80, high = 0xBF;
  int length;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;  /* no overlong forms */
    if (lead == 0xED) high = 0x9F; /* no surrogates */
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F; /* nothing past U+10FFFF */
  } else {
    return 0;
  }
  for (int i = 1; i < length; ++i) {
    if ((size_t)i >= size) return -1;
    if (at[i] < (i == 1 ? low : 0x80) || at[i] > (i == 1 ? high : 0xBF)) return 0;
  }
  return length;
}

/* Text events carry whole characters of well-formed UTF-8, and a chunk may end inside a character (or the
 * upstream may send bytes that are not UTF-8): whole characters go out, an ill-formed byte as U+FFFD, and a
 * character the chunk cut waits in `tail` for the next chunk. */
static ph_status PH_ABI on_body(ph_session *session, ph_str chunk) {
  const size_t size = session->tail_size + chunk.size;
  unsigned char *bytes = malloc(size + 1);
  char *text = malloc(size * 3 + 1);
  size_t at = 0, text_size = 0;
  if (!bytes || !text) {
    free(bytes), free(text);
    fail(session->events, PH_FAIL_INTERNAL, "out of memory");
    return PH_FAILED;
  }
  memcpy(bytes, session->tail, session->tail_size);
  if (chunk.size) memcpy(bytes + session->tail_size, chunk.data, chunk.size);
  while (at < size) {
    const int length = character_size(bytes + at, size - at);
    if (length < 0) break;
    if (length == 0) {
      memcpy(text + text_size, "\xEF\xBF\xBD", 3);
      text_size += 3;
      at += 1;
    } else {
      memcpy(text + text_size, bytes + at, (size_t)length);
      text_size += (size_t)length;
      at += (size_t)length;
    }
  }
  session->tail_size = size - at;
  memcpy(session->tail, bytes + at, session->tail_size);
  if (text_size) session->events->text(session->events, (ph_str){text, text_size});
  free(bytes), free(text);
  return PH_OK;
}

static ph_status PH_ABI on_response_end(ph_session *session) {
  /* A character that the end of the body cut short is shown as U+FFFD. */
  if (session->tail_size) session->events->text(session->events, (ph_str)LITERAL("\xEF\xBF\xBD"));
  session->tail_size = 0;
  session->events->finish(session->events); /* the protocol has no terminator: its end is the answer's */
  return PH_OK;
}

static void PH_ABI session_close(ph_session *session) {
  free(session->prompt);
  free(session->authorization);
  free(session);
}

static const ph_provider provider = {
    .struct_size = sizeof(ph_provider),
    .info = &info,
    .session_open = session_open,
    .next_request = next_request,
    .on_response_start = on_response_start,
    .on_body = on_body,
    .on_response_end = on_response_end,
    .session_close = session_close,
};

PH_EXPORT ph_status PH_ABI provhost_plugin_entry(ph_entry_args *args) {
  const uint32_t version = ph_negotiate_version(args->host_abi_version, PH_ABI_VERSION);
  if (version == 0) {
    args->refusal = (ph_str)LITERAL("CEcho speaks ABI 1.x only");
    return PH_REFUSED;
  }
  host = args->host;
  args->plugin_abi_version = version;
  args->provider = &provider;
  return PH_OK;
}
