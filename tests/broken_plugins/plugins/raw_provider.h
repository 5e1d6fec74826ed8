/*
 * raw_provider.h: a complete, valid provider written against the raw C ABI (no C++ helper), for
 * the broken plugins to break one thing each. Include it once, from the plugin's only source file.
 *
 * Its session sends one OpenAI-style request to /v1/chat/completions (the emulator answers it as
 * Ylokh) and passes the answer's bytes on as text, unparsed, in whole UTF-8 characters as the ABI
 * asks (a character cut between two chunks waits for the rest); RAW_ON_BODY, when defined before
 * the include, replaces on_body.
 */
#ifndef RAW_PROVIDER_H
#define RAW_PROVIDER_H

#include <provhost/provhost.h>
#include <stdlib.h>
#include <string.h>

static ph_str raw_str(const char *text) {
  ph_str s;
  s.data = text;
  s.size = text ? strlen(text) : 0;
  return s;
}

struct ph_session {
  const ph_session_events *events;
  int sent;
  ph_header headers[1];
  char partial[4]; /* the start of a character cut short at the end of the last chunk */
  size_t partial_size;
};

static ph_status raw_session_open(const ph_provider *provider, const ph_chat_request *request,
                                  const ph_session_events *events, ph_session **out_session) {
  (void)provider;
  (void)request;
  ph_session *session = (ph_session *)calloc(1, sizeof(ph_session));
  if (!session) return PH_FAILED;
  session->events = events;
  *out_session = session;
  return PH_OK;
}

static ph_status raw_next_request(ph_session *session, ph_http_request *out) {
  if (session->sent) return PH_DONE;
  session->sent = 1;
  session->headers[0].name = raw_str("Content-Type");
  session->headers[0].value = raw_str("application/json");
  out->method = raw_str("POST");
  out->url = raw_str("https://raw.invalid/v1/chat/completions");
  out->headers = session->headers;
  out->header_count = 1;
  out->body =
      raw_str("{\"model\":\"raw-model\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
  return PH_OK;
}

static ph_response_action raw_on_response_start(ph_session *session, int32_t status, const ph_header *headers,
                                                size_t count) {
  (void)session;
  (void)headers;
  (void)count;
  return status >= 200 && status < 300 ? PH_RESPONSE_READ : PH_RESPONSE_HTTP_ERROR;
}

#ifndef RAW_ON_BODY
/* How many bytes at the end of data[0..size) begin a character that is not complete yet. */
static size_t raw_cut_character(const char *data, size_t size) {
  size_t back = 0;
  while (back < size && back < 3 && ((unsigned char)data[size - 1 - back] & 0xC0) == 0x80) ++back;
  if (back == size) return 0;
  unsigned char lead = (unsigned char)data[size - 1 - back];
  size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return back + 1 < length ? back + 1 : 0;
}

static ph_status raw_on_body(ph_session *session, ph_str chunk) {
  char joined[8];
  size_t used = 0;
  /* First complete the character the last chunk cut, from the front of this one. */
  while (session->partial_size > 0 && used < chunk.size) {
    memcpy(joined, session->partial, session->partial_size);
    size_t take = chunk.size - used < 4 - session->partial_size ? chunk.size - used : 4 - session->partial_size;
    memcpy(joined + session->partial_size, chunk.data + used, take);
    size_t total = session->partial_size + take;
    size_t still_cut = raw_cut_character(joined, total);
    if (still_cut == total) { /* not complete yet: keep waiting */
      memcpy(session->partial, joined, total);
      session->partial_size = total;
      return PH_OK;
    }
    size_t whole = total - still_cut; /* the completed character, with the rest of `take` */
    ph_str text = {joined, whole};
    session->events->text(session->events, text);
    used += take - still_cut;
    session->partial_size = 0;
  }
  size_t cut = raw_cut_character(chunk.data + used, chunk.size - used);
  if (chunk.size - used - cut > 0) {
    ph_str text = {chunk.data + used, chunk.size - used - cut};
    session->events->text(session->events, text);
  }
  memcpy(session->partial, chunk.data + chunk.size - cut, cut);
  session->partial_size = cut;
  return PH_OK;
}
#define RAW_ON_BODY raw_on_body
#endif

static ph_status raw_on_response_end(ph_session *session) {
  if (session->partial_size > 0) { /* a body that ends inside a character: sent as it is */
    ph_str text = {session->partial, session->partial_size};
    session->events->text(session->events, text);
  }
  session->events->finish(session->events);
  return PH_OK;
}

static void raw_session_close(ph_session *session) { free(session); }

static ph_str raw_models[1];
static ph_str raw_capabilities[1];
static ph_provider_info raw_info;
static ph_provider raw_provider;

/* Fills the descriptors for a provider called `name`; a plugin's entry may then break them. */
static void raw_provider_init(const char *name) {
  raw_models[0] = raw_str("raw-model");
  raw_capabilities[0] = raw_str("stream");
  memset(&raw_info, 0, sizeof raw_info);
  raw_info.struct_size = sizeof raw_info;
  raw_info.name = raw_str(name);
  raw_info.version = raw_str("0.0.1");
  raw_info.description = raw_str("A test plugin written against the raw C ABI");
  raw_info.url = raw_str("https://raw.invalid");
  raw_info.working = 0; /* never chosen without -p, so it cannot disturb other tests */
  raw_info.default_model = raw_str("raw-model");
  raw_info.models = raw_models;
  raw_info.model_count = 1;
  raw_info.capabilities = raw_capabilities;
  raw_info.capability_count = 1;
  memset(&raw_provider, 0, sizeof raw_provider);
  raw_provider.struct_size = sizeof raw_provider;
  raw_provider.info = &raw_info;
  raw_provider.session_open = raw_session_open;
  raw_provider.next_request = raw_next_request;
  raw_provider.on_response_start = raw_on_response_start;
  raw_provider.on_body = RAW_ON_BODY;
  raw_provider.on_response_end = raw_on_response_end;
  raw_provider.session_close = raw_session_close;
}

/* The well-behaved answer to the handshake. */
static ph_status raw_accept(ph_entry_args *args) {
  args->plugin_abi_version = ph_negotiate_version(args->host_abi_version, PH_ABI_VERSION);
  args->provider = &raw_provider;
  return PH_OK;
}

#endif /* RAW_PROVIDER_H */
