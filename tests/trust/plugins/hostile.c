/* Hostile plugins for the host's trust boundary: one source, built once per defect (HOSTILE_<DEFECT> is
 * defined for each build, see ../CMakeLists.txt), each a valid raw C provider (raw_provider.h) but for that
 * one thing. The provider is named after the defect, e.g. FileUrl. */
#include <stdio.h>

#include "raw_provider.h"

/* ---- requests: what next_request hands out ---------------------------------------------------------- */

#if defined(HOSTILE_FILE_URL)
#define HOSTILE_NAME "FileUrl"
#define HOSTILE_URL "file:///etc/passwd"
#elif defined(HOSTILE_GOPHER_URL)
#define HOSTILE_NAME "GopherUrl"
#define HOSTILE_URL "gopher://127.0.0.1:70/1"
#elif defined(HOSTILE_BAD_URL)
#define HOSTILE_NAME "BadUrl"
#define HOSTILE_URL "http://[::1"
#elif defined(HOSTILE_NUL_HEADER)
#define HOSTILE_NAME "NulHeader"
#elif defined(HOSTILE_HEADER_NAME)
#define HOSTILE_NAME "HeaderName"
#elif defined(HOSTILE_MANY_HEADERS)
#define HOSTILE_NAME "ManyHeaders"
static ph_header hostile_headers[100000];
#elif defined(HOSTILE_BIG_BODY)
#define HOSTILE_NAME "BigBody"
static char hostile_big_body[9 * 1024 * 1024];
#elif defined(HOSTILE_REQUEST_LOOP)
#define HOSTILE_NAME "RequestLoop"
#endif

static ph_status hostile_next_request(ph_session *session, ph_http_request *out) {
  ph_status status = raw_next_request(session, out);
#if defined(HOSTILE_REQUEST_LOOP)
  /* Never done: every answer is discarded and another request follows. */
  session->sent = 0;
#endif
  if (status != PH_OK) return status;
#ifdef HOSTILE_URL
  out->url = raw_str(HOSTILE_URL);
#endif
#if defined(HOSTILE_NUL_HEADER)
  session->headers[0].value.data = "a\0b";
  session->headers[0].value.size = 3;
#elif defined(HOSTILE_HEADER_NAME)
  session->headers[0].name = raw_str("X Not A Token");
#elif defined(HOSTILE_MANY_HEADERS)
  for (size_t i = 0; i < sizeof hostile_headers / sizeof hostile_headers[0]; ++i) {
    hostile_headers[i].name = raw_str("X-Many");
    hostile_headers[i].value = raw_str("1");
  }
  out->headers = hostile_headers;
  out->header_count = sizeof hostile_headers / sizeof hostile_headers[0];
#elif defined(HOSTILE_BIG_BODY)
  memset(hostile_big_body, 'x', sizeof hostile_big_body);
  out->body.data = hostile_big_body;
  out->body.size = sizeof hostile_big_body;
#endif
  return PH_OK;
}

#if defined(HOSTILE_REQUEST_LOOP)
static ph_response_action hostile_on_response_start(ph_session *session, int32_t status, const ph_header *headers,
                                                    size_t count) {
  (void)session;
  (void)status;
  (void)headers;
  (void)count;
  return PH_RESPONSE_DISCARD;
}
#endif

/* ---- events -------------------------------------------------------------------------------------------- */

#if defined(HOSTILE_BAD_TEXT) || defined(HOSTILE_LATE_EVENTS)
#if defined(HOSTILE_BAD_TEXT)
#define HOSTILE_NAME "BadText"
#define HOSTILE_TEXT "ok \xff\xc3 end \x1b[1m!"
#else
#define HOSTILE_NAME "LateEvents"
#define HOSTILE_TEXT "hello"
#endif

/* The previous session's events table, kept past its session_close. */
static const ph_session_events *previous_events;

/* Answers at once, without a request. LateEvents first reports events through the table of the session
 * closed before (a use after free if the host read it), and adds text after its own finish. */
static ph_status hostile_session_open(const ph_provider *provider, const ph_chat_request *request,
                                      const ph_session_events *events, ph_session **out_session) {
  ph_status status = raw_session_open(provider, request, events, out_session);
  if (status != PH_OK) return status;
  if (previous_events) {
    previous_events->error(previous_events, PH_FAIL_UPSTREAM, raw_str("late error"));
    previous_events->text(previous_events, raw_str("late text"));
  }
  events->text(events, raw_str(HOSTILE_TEXT));
#if defined(HOSTILE_BAD_TEXT)
  /* A character split between two events: each event must be UTF-8 on its own, and neither is. */
  events->text(events, raw_str(" caf\xc3"));
  events->text(events, raw_str("\xa9"));
#endif
  events->finish(events);
#if defined(HOSTILE_LATE_EVENTS)
  events->text(events, raw_str(" after finish"));
#endif
  return PH_OK;
}

static ph_status hostile_answered(ph_session *session, ph_http_request *out) {
  (void)session;
  (void)out;
  return PH_DONE;
}

#if defined(HOSTILE_LATE_EVENTS)
#include <pthread.h>

static void *report_from_a_thread(void *events) {
  const ph_session_events *table = (const ph_session_events *)events;
  table->error(table, PH_FAIL_UPSTREAM, raw_str("error from a thread"));
  table->text(table, raw_str("text from a thread"));
  return NULL;
}

/* Also reports from a thread of its own while closing: events from outside the session's calls. */
static void hostile_session_close(ph_session *session) {
  pthread_t thread;
  if (pthread_create(&thread, NULL, report_from_a_thread, (void *)session->events) == 0) pthread_join(thread, NULL);
  previous_events = session->events;
  raw_session_close(session);
}
#else
#define hostile_session_close raw_session_close
#endif
#endif

#if defined(HOSTILE_TOOL_FLOOD)
#define HOSTILE_NAME "ToolFlood"
/* Answers at once with many tool calls of empty strings, each with an index of its own: what the host keeps
 * of them must be bounded all the same (--max-answer-bytes). */
static ph_status hostile_session_open(const ph_provider *provider, const ph_chat_request *request,
                                      const ph_session_events *events, ph_session **out_session) {
  ph_status status = raw_session_open(provider, request, events, out_session);
  if (status != PH_OK) return status;
  if (PH_HAS_FIELD(events, ph_session_events, tool_call)) {
    for (uint32_t i = 0; i < 100000; ++i) {
      ph_tool_call call;
      memset(&call, 0, sizeof call);
      call.struct_size = sizeof call;
      call.index = i;
      events->tool_call(events, &call);
    }
  }
  events->finish(events);
  return PH_OK;
}

static ph_status hostile_answered(ph_session *session, ph_http_request *out) {
  (void)session;
  (void)out;
  return PH_DONE;
}
#endif

/* ---- metadata ---------------------------------------------------------------------------------------- */

#if defined(HOSTILE_MANY_MODELS)
#define HOSTILE_NAME "ManyModels"
#define HOSTILE_MODEL_COUNT 1000000
static ph_str many_models[HOSTILE_MODEL_COUNT];
static char many_names[HOSTILE_MODEL_COUNT][8];
#elif defined(HOSTILE_LONG_NAME)
static char long_name[100 * 1024 + 1];
#define HOSTILE_NAME long_name
#elif defined(HOSTILE_CONTROL_NAME)
/* A name that, printed raw, would end its line of `provhost list`, forge one, and clear the screen. */
#define HOSTILE_NAME "Evil\n  /forged/provhost-good.so: loaded\x1b[2J"
#elif defined(HOSTILE_CONTROL_DESCRIPTION)
#define HOSTILE_NAME "ControlDescription"
#endif

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
#if defined(HOSTILE_LONG_NAME)
  memset(long_name, 'A', sizeof long_name - 1);
#endif
  raw_provider_init(HOSTILE_NAME);
  raw_provider.next_request = hostile_next_request;
#if defined(HOSTILE_REQUEST_LOOP)
  raw_provider.on_response_start = hostile_on_response_start;
#endif
#ifdef HOSTILE_TEXT
  raw_provider.session_open = hostile_session_open;
  raw_provider.next_request = hostile_answered;
  raw_provider.session_close = hostile_session_close;
#endif
#if defined(HOSTILE_TOOL_FLOOD)
  raw_provider.session_open = hostile_session_open;
  raw_provider.next_request = hostile_answered;
#endif
#if defined(HOSTILE_MANY_MODELS)
  for (size_t i = 0; i < HOSTILE_MODEL_COUNT; ++i) {
    snprintf(many_names[i], sizeof many_names[i], "m%06zu", i);
    many_models[i] = raw_str(many_names[i]);
  }
  raw_info.models = many_models;
  raw_info.model_count = HOSTILE_MODEL_COUNT;
  raw_info.default_model = many_models[0];
#elif defined(HOSTILE_CONTROL_DESCRIPTION)
  raw_info.description = raw_str("first line\nsecond line");
#endif
  return raw_accept(args);
}
