/*
 * provhost.h: the provider plugin ABI.
 *
 * A provider plugin is a shared library named `provhost-<name>.so` that exports exactly one symbol,
 * `provhost_plugin_entry` (PH_ENTRY_SYMBOL). Everything else is reached through the structs below.
 *
 * Rules that keep this ABI stable (read these before changing anything here):
 *  - Plain C only: no C++ types, exceptions or RTTI cross the boundary.
 *  - Every struct that may grow starts with `struct_size`. Fields are only ever appended. A reader
 *    accepts any struct_size >= the size it knows, and reads a field only when struct_size covers it
 *    (PH_HAS_FIELD). Small value types (ph_str, ph_header, ph_alias, ph_message) are frozen: they are
 *    never extended, which is what lets them be passed in arrays.
 *  - Strings are UTF-8, pointer + length (ph_str), not NUL-terminated unless said otherwise.
 *  - Ownership: whoever allocates frees. Inputs are borrowed for the duration of the call that passes
 *    them. Descriptors the plugin hands out (ph_provider, ph_provider_info) live until it is unloaded.
 *  - Optional function pointers may be NULL and are checked before use.
 *  - Every function names its threading contract: [any-thread] may be called from any thread, also
 *    concurrently; [session-thread] is called for one session by one thread at a time (different
 *    sessions may run on different threads at once, so state shared between sessions needs a lock).
 *
 * Providers are sans-IO: a session turns a chat request into HTTP requests for the host to send and
 * turns the response bytes it is fed into events (text, finish, warning, error). The host owns the
 * network: transport, TLS, proxies, timeouts, retries, cancellation.
 *
 * The session contract is spelled out next to each declaration below, as rules that say what the host
 * guarantees ("the host ...") and what a plugin must do ("a session ..."). Every rule is checked by
 * the test kit (ProvHost::testing, sdk/testing/) and by `provhost validate`.
 *
 * Version history:
 *   1.0  first release.
 *   1.1  instances (ph_entry_args.instance, the "instances" capability); the upstream's own report of an
 *        answer (ph_session_events.answer_info: token counts, finish reason); tool calls
 *        (ph_session_events.tool_call); the caller's OpenAI fields a provider declared it honours
 *        (ph_chat_request.passthrough_json). A 1.0 plugin keeps working with a 1.1 host: it never sees
 *        the new fields, because the host reads and writes a field only when struct_size covers it.
 */
#ifndef PROVHOST_H
#define PROVHOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Versions and the entry symbol
 * ------------------------------------------------------------------------------------------- */

/* A version is major << 16 | minor. Same major = compatible; a newer minor only appends. */
#define PH_MAKE_VERSION(major, minor) ((uint32_t)(((uint32_t)(major) << 16) | ((uint32_t)(minor)&0xffffu)))
#define PH_VERSION_MAJOR(version) ((uint32_t)(version) >> 16)
#define PH_VERSION_MINOR(version) ((uint32_t)(version)&0xffffu)

#define PH_ABI_VERSION_MAJOR 1
#define PH_ABI_VERSION_MINOR 1
/* The version this header describes. */
#define PH_ABI_VERSION PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR, PH_ABI_VERSION_MINOR)

#define PH_ENTRY_SYMBOL "provhost_plugin_entry"

/* True when a struct of `struct_size` bytes (as the other side sent it) contains `field`. */
#define PH_HAS_FIELD(ptr, type, field) ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* PH_EXPORT marks the entry symbol as exported from the plugin; PH_ABI is the calling convention of
 * every function that crosses the boundary, so that a host and a plugin built by different
 * compilers agree on it. Both are fixed per platform; on Linux and macOS PH_ABI is the platform's
 * only C convention and expands to nothing, so neither changes the ABI there. */
#if defined(_WIN32) || defined(__CYGWIN__)
#define PH_EXPORT __declspec(dllexport)
#else
#if defined(__GNUC__)
#define PH_EXPORT __attribute__((visibility("default")))
#else
#define PH_EXPORT
#endif
#endif

#if defined(_WIN32) && !defined(_WIN64)
#define PH_ABI __cdecl
#else
#define PH_ABI
#endif

/* ---------------------------------------------------------------------------------------------
 * Value types (frozen)
 * ------------------------------------------------------------------------------------------- */

/* A borrowed UTF-8 string. {NULL, 0} is the empty string; so is {p, 0} for any p. A NULL data with
 * a size other than 0 is malformed wherever it appears. */
typedef struct ph_str {
  const char *data;
  size_t size;
} ph_str;

typedef struct ph_header {
  ph_str name;
  ph_str value;
} ph_header;

/* alias -> model, e.g. "gemini" -> "google-gemini". */
typedef struct ph_alias {
  ph_str alias;
  ph_str model;
} ph_alias;

/* One chat message; role is "system", "user" or "assistant". */
typedef struct ph_message {
  ph_str role;
  ph_str content;
} ph_message;

/* Status codes returned across the boundary. */
typedef int32_t ph_status;
enum {
  PH_OK = 0,      /* done what was asked */
  PH_DONE = 1,    /* next_request: no more requests, the answer is complete */
  PH_FAILED = 2,  /* failed; the reason was reported through ph_session_events.error */
  PH_REFUSED = 3, /* entry: the plugin cannot work with this host (see ph_entry_args.refusal) */
};

/* What went wrong, as reported through ph_session_events.error. The host turns each into one line
 * for the user and, for `serve`, an HTTP status. */
typedef int32_t ph_failure;
enum {
  PH_FAIL_PROTOCOL = 1,     /* the upstream's answer could not be read ("no nonce found") */
  PH_FAIL_UPSTREAM = 2,     /* the upstream said, inside a 2xx answer, that it failed */
  PH_FAIL_RATE_LIMITED = 3, /* the upstream asked us to slow down */
  PH_FAIL_AUTH = 4,         /* missing or invalid authentication */
  PH_FAIL_BLOCKED = 5,      /* blocked, e.g. by a Cloudflare challenge page */
  PH_FAIL_TRUNCATED = 6,    /* the answer ended before its terminator */
  PH_FAIL_BAD_REQUEST = 7,  /* the chat request cannot be expressed to this upstream */
  PH_FAIL_INTERNAL = 8,     /* a bug in the plugin (the SDK reports caught exceptions so) */
};

#define PH_MAX_DIGEST_SIZE 64

typedef int32_t ph_log_level;
enum { PH_LOG_DEBUG = 0, PH_LOG_INFO = 1, PH_LOG_WARNING = 2, PH_LOG_ERROR = 3 };

/* ---------------------------------------------------------------------------------------------
 * Host services: what the host offers every plugin, so that plugins link nothing of the host.
 * The table and everything it points to live until the plugin is unloaded.
 * ------------------------------------------------------------------------------------------- */

typedef struct ph_host {
  size_t struct_size;
  void *host_data; /* the host's own; plugins do not touch it */
  ph_str host_name;
  ph_str host_version;

  /* [any-thread] Write a diagnostic line; the host prefixes the provider's name. */
  void(PH_ABI *log)(const struct ph_host *host, ph_log_level level, ph_str message);

  /* [any-thread] Wall-clock time in milliseconds since the Unix epoch. */
  int64_t(PH_ABI *now_unix_ms)(const struct ph_host *host);

  /* [any-thread] Fill `buffer` with `size` bytes from a cryptographically secure source. */
  void(PH_ABI *random_bytes)(const struct ph_host *host, void *buffer, size_t size);

  /* [any-thread] Optional (may be NULL). Look up a configuration value or secret for this plugin
   * (the host reads PROVHOST_<PROVIDER>_<KEY>). Returns {NULL, 0} when unset. The returned string
   * stays valid until the plugin is unloaded. Inside the entry (since 1.1), before the host knows the
   * provider's name, it answers under the instance's name when the entry was given one, else under
   * the plugin's id: the file's name without "provhost-" and the library suffix (provhost-ylokh.so:
   * PROVHOST_YLOKH_<KEY>), so that a provider can build its metadata from its configuration. */
  ph_str(PH_ABI *get_config)(const struct ph_host *host, ph_str key);

  /* [any-thread] Optional (may be NULL). Hash `data` with `algorithm` ("md5", "sha1", "sha256"):
   * writes the raw digest to `out` (room for PH_MAX_DIGEST_SIZE bytes) and returns its length, or 0
   * for an algorithm the host does not know. Lets plugins sign requests without a crypto library. */
  size_t(PH_ABI *digest)(const struct ph_host *host, ph_str algorithm, ph_str data, uint8_t *out);
} ph_host;

/* ---------------------------------------------------------------------------------------------
 * What a provider says about itself. Metadata is data: new capabilities are new strings, not new
 * fields. Every string is UTF-8 without control characters; each array may be NULL when its count is
 * 0, and is never NULL with a count above 0. models, when not empty, holds default_model exactly
 * once, and every alias points at one of them. Capabilities about the stream flag:
 *  - "stream": the session delivers text as it comes when ph_chat_request.stream is set;
 *  - "no_stream": the session asks its upstream for one whole answer when stream is 0.
 * stream is the caller's preference, not an order: a session without "no_stream" given stream = 0
 * answers as it always does (usually streaming) and the host collects the text into one answer; a
 * session without "stream" may deliver all its text at the end. The host never refuses a chat for
 * the stream flag. Known capabilities: "stream", "no_stream", "message_history", "system_message", and
 * "param:NAME" for each request parameter of options_json the upstream honours ("param:temperature",
 * "param:top_p", "param:max_tokens", "param:stop"). The host enforces `stop` for every provider and
 * `max_tokens` (by an estimate of tokens) for providers without "param:max_tokens".
 * Since 1.1: "param:tools" and "param:response_format" (the host then hands the caller's fields over in
 * ph_chat_request.passthrough_json, see there), and "instances" (the plugin makes a provider for each
 * instance the user configures, see ph_entry_args.instance).
 * ------------------------------------------------------------------------------------------- */

typedef struct ph_provider_info {
  size_t struct_size;
  ph_str name;        /* unique among loaded providers; [A-Za-z0-9_-]+, e.g. "Ylokh" */
  ph_str version;     /* the plugin's own version, e.g. "1.0.0" */
  ph_str description; /* one line */
  ph_str url;         /* the upstream site, e.g. "https://chat.ylokh.xyz" */
  int32_t working;    /* non-zero when the upstream is believed to work */
  ph_str default_model;
  const ph_str *models;
  size_t model_count;
  const ph_alias *aliases;
  size_t alias_count;
  const ph_str *capabilities;
  size_t capability_count;
} ph_provider_info;

/* ---------------------------------------------------------------------------------------------
 * A chat request, as the host hands it to a session (borrowed for the session_open call).
 * ------------------------------------------------------------------------------------------- */

typedef struct ph_chat_request {
  size_t struct_size;
  ph_str model;               /* already resolved by the host: never empty, never an alias; not necessarily one of
                                 the listed models (a provider that lists none takes any name) */
  const ph_message *messages; /* may be NULL when message_count is 0, which a session may refuse
                                 (PH_FAIL_BAD_REQUEST); contents may be empty strings */
  size_t message_count;
  int32_t stream;      /* non-zero: the caller wants the answer as it is produced */
  ph_str options_json; /* a JSON object of extra options (temperature, cookies, ...); "{}" if none */

  /* Since 1.1. A JSON object of the caller's OpenAI request fields that this provider declared it
   * honours, verbatim: with "param:tools", `tools`, `tool_choice`, `parallel_tool_calls` and
   * `messages` (the whole conversation as the caller sent it, with assistant `tool_calls` and
   * role "tool" messages, which `messages` above cannot carry); with "param:response_format",
   * `response_format`. Only fields the caller sent appear; "{}" or empty when none. */
  ph_str passthrough_json;
} ph_chat_request;

/* ---------------------------------------------------------------------------------------------
 * The HTTP requests a session asks the host to send.
 * ------------------------------------------------------------------------------------------- */

/* Which failures of an attempt may be retried (ph_retry_policy.retry_on). */
enum {
  PH_RETRY_ON_CONNECT_ERROR = 1 << 0, /* no connection, connection reset before any response */
  PH_RETRY_ON_TIMEOUT = 1 << 1,       /* connect, first-byte or total timeout of one attempt */
  PH_RETRY_ON_RATE_LIMIT = 1 << 2,    /* 429 and 503; the host honours Retry-After */
  PH_RETRY_ON_SERVER_ERROR = 1 << 3,  /* 500, 502, 504 */
};

/* A request that may be sent again. A request without a policy is sent once. Attempts never start
 * after the user's total timeout has passed, and a request is never retried once any of its
 * response body has reached the session. */
typedef struct ph_retry_policy {
  size_t struct_size;
  uint32_t max_attempts;       /* attempts in all, the first included */
  uint32_t initial_backoff_ms; /* wait before the second attempt */
  uint32_t backoff_multiplier; /* each further wait is the previous one times this (>= 1) */
  uint32_t retry_on;           /* PH_RETRY_ON_* flags */
} ph_retry_policy;

typedef struct ph_http_request {
  size_t struct_size;
  ph_str method; /* "GET", "POST" */
  ph_str url;    /* absolute http:// or https://, on the provider's real origin; the host may swap
                    scheme/host/port. Header names are tokens, values without CR, LF or NUL */
  const ph_header *headers;
  size_t header_count;
  ph_str body;
  uint32_t timeout_ms;          /* one attempt's total time; 0 = the host's default. Never extends the
                                   chat's own deadline */
  const ph_retry_policy *retry; /* NULL = send once */
} ph_http_request;

/* What the host does with a response, as on_response_start decides. Each is allowed for any status:
 * DISCARD on a 2xx is fine (a page read only for its cookies), READ on a 4xx lets a session read an
 * upstream's own error object. The host sends at most --max-requests requests per chat, so a session
 * that keeps discarding ends in an error, not a loop. */
typedef int32_t ph_response_action;
enum {
  PH_RESPONSE_READ = 0,       /* feed the body to on_body, then call on_response_end */
  PH_RESPONSE_HTTP_ERROR = 1, /* the request failed: the host reads the body and reports the status
                                 the same way for every provider (rate limited, Cloudflare, ...) */
  PH_RESPONSE_DISCARD = 2,    /* drop the body and ask next_request again (e.g. to refresh a token) */
};

/* Since 1.1. What the upstream itself said about its answer (ph_session_events.answer_info). */
typedef struct ph_answer_info {
  size_t struct_size;
  int64_t prompt_tokens;     /* the upstream's count; -1 when it gave none */
  int64_t completion_tokens; /* the upstream's count; -1 when it gave none */
  ph_str finish_reason;      /* OpenAI's words: "stop", "length", "tool_calls", "content_filter"; empty
                                when unknown */
} ph_answer_info;

/* Since 1.1. A piece of a tool call the model asks for, in the shape of OpenAI's streamed
 * `delta.tool_calls[]`: the first piece of a call carries its id and name, the pieces after it (same
 * index) the next bytes of its arguments' JSON text. A whole answer reports each call as one piece. */
typedef struct ph_tool_call {
  size_t struct_size;
  uint32_t index;   /* which call of the answer: 0, 1, ... */
  ph_str id;        /* e.g. "call_abc"; empty on later pieces */
  ph_str name;      /* the function's name; empty on later pieces */
  ph_str arguments; /* more of the arguments' JSON text; may be empty */
} ph_tool_call;

/* ---------------------------------------------------------------------------------------------
 * Events: how a session reports its answer. The host owns this table; it lives until
 * session_close. All calls are made on the session's thread, from inside the session's functions;
 * the host drops, without reading the table, any event reported otherwise (from another thread, after
 * session_close), and any text reported after `finish`. Messages are one line of UTF-8.
 *
 * The order of events, over a whole session:
 *   (text | warning)* then at most one of: finish (then warning* only) or error (then nothing).
 *  - One end: a session reports `finish` or `error` at most once, never both.
 *  - After `finish`, only warnings: text is dropped by the host (with a warning), and an error there
 *    is a broken contract (the host would still fail the chat with it).
 *  - After `error`, nothing; the host ignores whatever follows.
 *  - No event from inside session_close (it is dropped: the answer is over by then).
 *  - Text may be empty (the host ignores it); it is whole UTF-8 characters, never a character split
 *    across two events. Warning and error messages are one line of UTF-8 and error messages are
 *    not empty.
 *  - `failure` is one of the PH_FAIL_* values.
 * ------------------------------------------------------------------------------------------- */

typedef struct ph_session_events {
  size_t struct_size;
  void *host_data;

  /* A piece of the answer: UTF-8, whole characters. */
  void(PH_ABI *text)(const struct ph_session_events *events, ph_str text);

  /* The answer ended normally (the upstream's terminator, or the end of a protocol that has none).
   * A response that ends cleanly without `finish` having been called is reported as truncated. */
  void(PH_ABI *finish)(const struct ph_session_events *events);

  /* Something odd that the session skipped over (an undecodable event). Not fatal. */
  void(PH_ABI *warning)(const struct ph_session_events *events, ph_str message);

  /* The request failed; the session produces nothing more. One line, no trailing newline. */
  void(PH_ABI *error)(const struct ph_session_events *events, ph_failure failure, ph_str message);

  /* Since 1.1 (check with PH_HAS_FIELD). The upstream's token counts and finish reason, once, before
   * `finish`. The host uses them instead of its own estimate. Strings are borrowed for the call. */
  void(PH_ABI *answer_info)(const struct ph_session_events *events, const ph_answer_info *info);

  /* Since 1.1 (check with PH_HAS_FIELD). A piece of a tool call (see ph_tool_call); only for a
   * request whose passthrough_json had `tools`. Strings are borrowed for the call. */
  void(PH_ABI *tool_call)(const struct ph_session_events *events, const ph_tool_call *call);
} ph_session_events;

/* ---------------------------------------------------------------------------------------------
 * The provider: its metadata and its session functions.
 *
 * The host drives a session like this:
 *   session_open
 *   loop: next_request -> PH_OK: the host sends the request, then
 *                           on_response_start(status, headers) -> READ: on_body* then on_response_end
 *                                                              -> HTTP_ERROR: the host fails the chat
 *                                                              -> DISCARD: back to next_request
 *         next_request -> PH_DONE: the answer is complete; PH_FAILED: see the error event
 *   session_close (always, also after a failure or a cancellation)
 *
 * What the host guarantees about that order:
 *  - session_close follows every session_open that set *out_session to non-NULL, whatever it
 *    returned (a session that failed half-way is still closed), and never one that left it NULL.
 *  - After on_body returns PH_DONE, the host reads nothing more of that response and does not call
 *    on_response_end for it; it calls next_request next (PH_DONE there ends the chat).
 *  - After any call returns PH_FAILED (or after an HTTP_ERROR action), the host calls session_close
 *    and nothing else. PH_FAILED is returned only together with an error event, and an error event
 *    only together with PH_FAILED (on_response_start, which returns an action, reports no error).
 *  - After session_close the host never calls into the session again.
 *  - Any call but session_close may be the last before session_close: a user may cancel, a timeout
 *    may strike, the connection may break. A session reports nothing more then, and needs nothing.
 *  - A response that ends cleanly after the session called neither `finish` nor `error` (and whose
 *    next_request answers PH_DONE) is reported by the host as truncated.
 *  - The host never passes an empty chunk to on_body.
 *
 * Sessions of one provider run at the same time on different threads (the [any-thread] and
 * [session-thread] marks): state shared between sessions, such as a cache of a site's token that
 * every session reads and refreshes (ChatgptFree's nonce), is allowed, and needs a lock.
 * ------------------------------------------------------------------------------------------- */

typedef struct ph_session ph_session; /* the plugin's own */

typedef struct ph_provider {
  size_t struct_size;
  const ph_provider_info *info;

  /* [any-thread] Start answering `request`. `events` lives until session_close. Returns PH_OK with
   * *out_session set, or PH_FAILED after an error event (a chat it cannot express: PH_FAIL_BAD_REQUEST).
   * On PH_FAILED *out_session may be NULL or a session, which the host then closes. The request and
   * everything it points to are borrowed for this call only: copy what is needed later. */
  ph_status(PH_ABI *session_open)(const struct ph_provider *provider, const ph_chat_request *request,
                                  const ph_session_events *events, ph_session **out_session);

  /* [session-thread] The next HTTP request to send. On PH_OK `*out` is filled (its caller set
   * out->struct_size); what it points to stays valid until the next call into this session. The
   * request's method is a token ("GET", "POST"), its URL absolute http:// or https:// without spaces
   * or control characters, header names HTTP tokens, header values without control characters (tabs
   * aside) or leading or trailing whitespace; headers may be NULL when header_count is 0 and
   * body.data NULL when body.size is 0. A retry policy has max_attempts >= 1 and
   * backoff_multiplier >= 1. The host fails the chat (a plugin bug) for a request it cannot send.
   * PH_DONE: nothing more to send; the answer ended with `finish` (else it counts as truncated). */
  ph_status(PH_ABI *next_request)(ph_session *session, ph_http_request *out);

  /* [session-thread] A response to the last request has begun. Headers are borrowed for this call;
   * they may be NULL when header_count is 0; names keep the upstream's case. http_status is the
   * final response's three-digit code: interim 1xx responses are consumed by the host and never
   * seen; redirects are not followed, so a 3xx arrives here like any other status (answer
   * HTTP_ERROR, or DISCARD and ask for the new location). Never 0. A 429 or 5xx the request's retry
   * policy covers is retried by the host, without reaching the session, while attempts remain. Returns an action (any
   * value but the three PH_RESPONSE_* fails the chat as a plugin bug); reports no error event. */
  ph_response_action(PH_ABI *on_response_start)(ph_session *session, int32_t http_status, const ph_header *headers,
                                                size_t header_count);

  /* [session-thread] More of the response body, split anywhere (mid-line, mid-character), never
   * empty. The same body must give the same events however it is split: the test kit and
   * `provhost validate` feed it whole, in every 2- and 3-way split and byte by byte.
   * PH_OK: keep reading; PH_DONE: the answer is complete, stop reading (no on_response_end
   * follows; next_request does); PH_FAILED: see events. */
  ph_status(PH_ABI *on_body)(ph_session *session, ph_str chunk);

  /* [session-thread] The response ended cleanly (also after an empty body, with no on_body before).
   * Flush what is buffered. PH_OK (next_request follows) or PH_FAILED. Not called when the transfer
   * broke (the host reports that itself) nor after on_body said PH_DONE. */
  ph_status(PH_ABI *on_response_end)(ph_session *session);

  /* [session-thread] Free the session. Called exactly once for every session opened (see above),
   * after a failure, a cancellation or a finished answer alike. Reports no events (they are
   * dropped). */
  void(PH_ABI *session_close)(ph_session *session);

  /* [main-thread] Optional. Called once, with no sessions open, before the library is unloaded.
   * struct_size need not cover it: the host reads it only when PH_HAS_FIELD says it is there, and a
   * table that stops after session_close (the smallest the host accepts) has no deinit. */
  void(PH_ABI *deinit)(const struct ph_provider *provider);
} ph_provider;

/* ---------------------------------------------------------------------------------------------
 * The entry point and its version handshake.
 *
 * The host fills struct_size, host_abi_version (the newest version it implements) and host. The
 * plugin answers plugin_abi_version: the version both will speak, which has the host's major and a
 * minor no newer than the host's; then it sets provider and returns PH_OK. When it cannot (another
 * major), it returns PH_REFUSED and may set refusal to a static one-line reason. The host rejects,
 * with a clear reason and without calling anything else, an answer of another major or a newer
 * minor than it offered.
 * ------------------------------------------------------------------------------------------- */

typedef struct ph_entry_args {
  size_t struct_size;
  uint32_t host_abi_version;   /* in */
  const ph_host *host;         /* in; valid until the plugin is unloaded */
  uint32_t plugin_abi_version; /* out */
  const ph_provider *provider; /* out; valid until the plugin is unloaded */
  ph_str refusal;              /* out, optional, static storage */

  /* Since 1.1, in. Empty: the plugin's own provider. Otherwise the name of an instance the user
   * configured for a plugin whose provider declares the capability "instances"; the entry then
   * returns a separate provider named exactly so, with its own metadata, state and `deinit`, and
   * `host` is that instance's own table (its configuration and log lines under the instance's name).
   *
   * Why the host calls the entry once per instance rather than the plugin returning a list (as a
   * CLAP factory or a Vulkan enumeration would): an instance's very identity comes from the user's
   * configuration, which the host reads; each call gets the instance's own ph_host, so every host
   * service (configuration, log prefix) stays per provider without a provider argument on each; each
   * instance then is an ordinary provider to the host (listed, resolved, isolated in a worker of its
   * own that loads the file for that instance alone); and a plugin without instances changes nothing.
   * A plugin that negotiated 1.0 is never given an instance. */
  ph_str instance;
} ph_entry_args;

/* [main-thread] Called once right after the library is loaded, and since 1.1 once more for each
 * configured instance (each call with its own ph_host). */
typedef ph_status(PH_ABI *ph_entry_fn)(ph_entry_args *args);

/* The entry symbol (PH_ENTRY_SYMBOL), which every plugin defines as
 *   PH_EXPORT ph_status PH_ABI provhost_plugin_entry(ph_entry_args *args) { ... }
 * Declared here so that a definition with another signature or convention does not compile. */
PH_EXPORT ph_status PH_ABI provhost_plugin_entry(ph_entry_args *args);

/* The plugin's half of the handshake: the version to speak with a host that offers `offered`, for a
 * plugin built against `built`; 0 when the majors differ. */
static inline uint32_t ph_negotiate_version(uint32_t offered, uint32_t built) {
  if (PH_VERSION_MAJOR(offered) != PH_VERSION_MAJOR(built)) return 0;
  return PH_VERSION_MINOR(offered) < PH_VERSION_MINOR(built) ? offered : built;
}

#ifdef __cplusplus
}
#endif

/* ---------------------------------------------------------------------------------------------
 * Capability strings (ph_provider_info.capabilities), named so that a typo is a compile error
 * rather than a capability the host silently does not know.
 * ------------------------------------------------------------------------------------------- */

#define PH_CAP_STREAM "stream"                   /* answers as the text is produced */
#define PH_CAP_NO_STREAM "no_stream"             /* can also answer in one piece when stream = 0 */
#define PH_CAP_MESSAGE_HISTORY "message_history" /* sends earlier messages, not only the last */
#define PH_CAP_SYSTEM_MESSAGE "system_message"   /* honours "system" messages */
/* "param:NAME": the upstream honours options_json's NAME. The host still cuts every answer at `stop`,
 * and counts `max_tokens` itself for a provider without PH_CAP_PARAM_MAX_TOKENS. */
#define PH_CAP_PARAM_TEMPERATURE "param:temperature"
#define PH_CAP_PARAM_TOP_P "param:top_p"
#define PH_CAP_PARAM_MAX_TOKENS "param:max_tokens"
#define PH_CAP_PARAM_STOP "param:stop"
/* Since 1.1. The plugin's own provider makes a provider of each instance the user configured
 * (ph_entry_args.instance). */
#define PH_CAP_INSTANCES "instances"
/* Since 1.1. The caller's tools / response_format reach the plugin in ph_chat_request.passthrough_json. */
#define PH_CAP_PARAM_TOOLS "param:tools"
#define PH_CAP_PARAM_RESPONSE_FORMAT "param:response_format"

#endif /* PROVHOST_H */
