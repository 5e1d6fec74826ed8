/* A plugin that misbehaves in exactly one way, chosen at build time (tests/isolation/CMakeLists.txt
 * builds this file once per HOSTILE_* macro, each as its own provhost-<name>.so). Without one it
 * is Calm, a well-behaved provider the others fall back to. The provider is raw_provider.h's, named
 * HOSTILE_NAME and working, so that it takes part in resolution without -p.
 *
 * While loading (scanning):
 *   HOSTILE_ENTRY_SEGV, HOSTILE_ENTRY_ABORT, HOSTILE_ENTRY_LOOP, HOSTILE_ENTRY_EXIT: the entry
 *   function segfaults, aborts, never returns, calls exit(0);
 *   HOSTILE_WILD_POINTER: the entry returns a provider pointer into nowhere;
 *   HOSTILE_CONSTRUCTOR: the library's constructor segfaults, before any entry is called;
 *   HOSTILE_THREAD: the entry starts a thread that segfaults once a session opens (session_open
 *   waits for it);
 *   HOSTILE_FORGED_ANSWER: the entry writes its own answer to the scanning worker's channel
 *   (descriptor 3), naming itself "Evil\nName", and exits before the worker can answer.
 * In a session:
 *   HOSTILE_OPEN_SEGV: session_open segfaults;
 *   HOSTILE_THREAD_OPEN: a thread started while loading opens a file once a session opens, and
 *   session_open waits for it (the sandbox covers threads that were there before it);
 *   HOSTILE_BODY_SEGV, HOSTILE_BODY_LOOP: on_body segfaults, never returns (it logs "looping" first);
 *   HOSTILE_BODY_ALLOC: on_body allocates and fills 2 GiB;
 *   HOSTILE_BODY_OPEN, HOSTILE_BODY_SOCKET: on_body opens a file, makes a socket.
 * HOSTILE_MARKER: the entry appends a line to the file PROVHOST_TEST_SCAN_MARKER names, so that a
 * test can count how often the plugin was loaded. */
#include <fcntl.h>
#include <provhost/provhost.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(HOSTILE_BODY_SEGV) || defined(HOSTILE_BODY_LOOP) || defined(HOSTILE_BODY_ALLOC) || \
    defined(HOSTILE_BODY_OPEN) || defined(HOSTILE_BODY_SOCKET)
#define HOSTILE_BODY
#define RAW_ON_BODY hostile_on_body
static ph_status hostile_on_body(struct ph_session *session, ph_str chunk);
#endif

#include "../../broken_plugins/plugins/raw_provider.h"

static const ph_host *hostile_host;

/* Keeps the compiler from proving the crash and dropping it. */
static int *volatile nowhere = NULL;

#ifdef HOSTILE_CONSTRUCTOR
__attribute__((constructor)) static void hostile_constructor(void) { *nowhere = 1; }
#endif

#if defined(HOSTILE_THREAD) || defined(HOSTILE_THREAD_OPEN)
static pthread_mutex_t hostile_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hostile_opened = PTHREAD_COND_INITIALIZER;
static int hostile_session_opened = 0;

static void *hostile_thread(void *unused) {
  (void)unused;
  pthread_mutex_lock(&hostile_mutex);
  while (!hostile_session_opened) pthread_cond_wait(&hostile_opened, &hostile_mutex);
  pthread_mutex_unlock(&hostile_mutex);
#ifdef HOSTILE_THREAD_OPEN
  int fd = open("/etc/hostname", O_RDONLY);
  if (fd >= 0) close(fd);
  pthread_mutex_lock(&hostile_mutex);
  hostile_session_opened = 2;
  pthread_cond_broadcast(&hostile_opened);
  pthread_mutex_unlock(&hostile_mutex);
#else
  *nowhere = 1;
#endif
  return NULL;
}

static ph_status hostile_session_open(const ph_provider *provider, const ph_chat_request *request,
                                      const ph_session_events *events, ph_session **out_session) {
  pthread_mutex_lock(&hostile_mutex);
  hostile_session_opened = 1;
  pthread_cond_broadcast(&hostile_opened);
  /* Until the thread has done its deed: the process ends before (HOSTILE_THREAD) or the sandbox
   * ends it (HOSTILE_THREAD_OPEN), so the outcome does not depend on timing. */
  while (hostile_session_opened != 2) pthread_cond_wait(&hostile_opened, &hostile_mutex);
  pthread_mutex_unlock(&hostile_mutex);
  return raw_session_open(provider, request, events, out_session);
}
#endif

#ifdef HOSTILE_OPEN_SEGV
static ph_status hostile_session_open(const ph_provider *provider, const ph_chat_request *request,
                                      const ph_session_events *events, ph_session **out_session) {
  (void)provider;
  (void)request;
  (void)events;
  (void)out_session;
  *nowhere = 1;
  return PH_FAILED;
}
#endif

#ifdef HOSTILE_BODY
static ph_status hostile_on_body(ph_session *session, ph_str chunk) {
  (void)session;
  (void)chunk;
#if defined(HOSTILE_BODY_SEGV)
  *nowhere = 1;
#elif defined(HOSTILE_BODY_LOOP)
  hostile_host->log(hostile_host, PH_LOG_WARNING, raw_str("looping"));
  for (volatile int forever = 1; forever;) {
  }
#elif defined(HOSTILE_BODY_ALLOC)
  size_t size = (size_t)2 << 30;
  char *volatile memory = malloc(size); /* volatile: the allocation must not be optimised away */
  memset(memory, 1, size);
  session->events->text(session->events, raw_str(memory[size - 1] == 1 ? "filled" : "odd"));
  free(memory);
#elif defined(HOSTILE_BODY_OPEN)
  int fd = open("/etc/hostname", O_RDONLY);
  if (fd >= 0) close(fd);
#elif defined(HOSTILE_BODY_SOCKET)
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd >= 0) close(fd);
#endif
  session->events->text(session->events, raw_str("survived"));
  return PH_OK;
}
#endif

#ifdef HOSTILE_FORGED_ANSWER
/* The scan frame of core/src/isolation/wire.cpp, written by hand: length, type 5, loaded, the
 * metadata's strings and lists, the ABI versions offered and answered. */
static size_t forged_str(char *out, const char *text) {
  uint32_t size = (uint32_t)strlen(text);
  memcpy(out, &size, 4);
  memcpy(out + 4, text, size);
  return 4 + size;
}

static void forge_answer(void) {
  char frame[256];
  size_t at = 4;
  uint32_t zero = 0, version = PH_ABI_VERSION;
  frame[at++] = 5;
  frame[at++] = 1;
  at += forged_str(frame + at, "Evil\nName");
  at += forged_str(frame + at, "1");
  at += forged_str(frame + at, "");
  at += forged_str(frame + at, "");
  frame[at++] = 1;
  at += forged_str(frame + at, "");
  for (int list = 0; list < 3; ++list, at += 4) memcpy(frame + at, &zero, 4);
  memcpy(frame + at, &version, 4);
  memcpy(frame + at + 4, &version, 4);
  at += 8;
  uint32_t length = (uint32_t)(at - 4);
  memcpy(frame, &length, 4);
  if (write(3, frame, at) < 0) abort();
  _exit(0);
}
#endif

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  hostile_host = args->host;
#ifdef HOSTILE_MARKER
  const char *marker = getenv("PROVHOST_TEST_SCAN_MARKER");
  if (marker) {
    FILE *file = fopen(marker, "a");
    if (file) {
      fputs("loaded\n", file);
      fclose(file);
    }
  }
#endif
#if defined(HOSTILE_ENTRY_SEGV)
  *nowhere = 1;
#elif defined(HOSTILE_ENTRY_ABORT)
  abort();
#elif defined(HOSTILE_ENTRY_LOOP)
  for (volatile int forever = 1; forever;) {
  }
#elif defined(HOSTILE_ENTRY_EXIT)
  exit(0);
#elif defined(HOSTILE_FORGED_ANSWER)
  forge_answer();
#endif
  raw_provider_init(HOSTILE_NAME);
  raw_info.working = 1;
#if defined(HOSTILE_THREAD) || defined(HOSTILE_THREAD_OPEN)
  pthread_t thread;
  pthread_create(&thread, NULL, hostile_thread, NULL);
  pthread_detach(thread);
  raw_provider.session_open = hostile_session_open;
#elif defined(HOSTILE_OPEN_SEGV)
  raw_provider.session_open = hostile_session_open;
#endif
  ph_status status = raw_accept(args);
#ifdef HOSTILE_WILD_POINTER
  args->provider = (const ph_provider *)(uintptr_t)0x10;
#endif
  return status;
}
