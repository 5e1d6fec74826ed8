/* A plugin that keeps the contract, or, as PROVHOST_TEST_MISBEHAVE says, crashes ("crash") or never
 * returns ("hang") once it is fed a response body: `provhost validate` must report either as a finding
 * of the checks that feed bodies, and carry on with the others. It answers with the body as text. */
#include <provhost/provhost.h>
#include <stdlib.h>
#include <string.h>

typedef struct ph_session {
  const ph_session_events *events;
  int sent;
} session_t;

static ph_str s(const char *text) {
  ph_str out = {text, strlen(text)};
  return out;
}

static int misbehaving(const char *how) {
  const char *setting = getenv("PROVHOST_TEST_MISBEHAVE");
  return setting && strcmp(setting, how) == 0;
}

static ph_status open_session(const ph_provider *provider, const ph_chat_request *request,
                              const ph_session_events *events, ph_session **out) {
  (void)provider;
  (void)request;
  session_t *session = calloc(1, sizeof *session);
  if (!session) {
    events->error(events, PH_FAIL_INTERNAL, s("out of memory"));
    return PH_FAILED;
  }
  session->events = events;
  *out = session;
  return PH_OK;
}

static ph_status next_request(ph_session *session, ph_http_request *out) {
  if (session->sent) return PH_DONE;
  session->sent = 1;
  out->method = s("POST");
  out->url = s("https://misbehaving.example/answer");
  out->body = s("{}");
  return PH_OK;
}

static ph_response_action response_start(ph_session *session, int32_t status, const ph_header *headers, size_t count) {
  (void)session;
  (void)headers;
  (void)count;
  return status >= 200 && status < 300 ? PH_RESPONSE_READ : PH_RESPONSE_HTTP_ERROR;
}

static ph_status on_body(ph_session *session, ph_str chunk) {
  if (misbehaving("crash")) {
    volatile int *nowhere = NULL;
    *nowhere = 1;
  }
  if (misbehaving("hang"))
    for (volatile int forever = 1; forever;) {
    }
  (void)chunk; /* the answer is fixed: only its end is read from the response */
  (void)session;
  return PH_OK;
}

static ph_status response_end(ph_session *session) {
  session->events->text(session->events, s("answered"));
  session->events->finish(session->events);
  return PH_OK;
}

static void close_session(ph_session *session) { free(session); }

static const ph_str capabilities[] = {{"stream", 6}};
static const ph_provider_info info = {sizeof(ph_provider_info),
                                      {"Misbehaving", 11},
                                      {"1.0.0", 5},
                                      {"crashes or hangs on demand", 26},
                                      {"https://misbehaving.example", 27},
                                      1,
                                      {"any", 3},
                                      NULL,
                                      0,
                                      NULL,
                                      0,
                                      capabilities,
                                      1};
static const ph_provider provider = {
    sizeof(ph_provider), &info, open_session, next_request, response_start, on_body, response_end, close_session, NULL};

PH_EXPORT ph_status PH_ABI provhost_plugin_entry(ph_entry_args *args) {
  uint32_t version = ph_negotiate_version(args->host_abi_version, PH_ABI_VERSION);
  if (!version) return PH_REFUSED;
  args->plugin_abi_version = version;
  args->provider = &provider;
  return PH_OK;
}
