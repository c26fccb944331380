// SPDX-License-Identifier: MIT
// test_malloc_override.cc — a program linked with libebra-malloc.so
// (ebra::malloc): malloc, free and C++ new/delete are ebra's.
//
// Claims checked:
//  - malloc, calloc, realloc, aligned_alloc, posix_memalign, memalign,
//    valloc, pvalloc, malloc_usable_size and operator new (every form)
//    return blocks of ebra's size classes, aligned as asked;
//  - early init: blocks a library allocated from its constructor, before
//    libebra-malloc.so's constructors ran, came from the bootstrap arena
//    (no pool owns them), hold their contents, and can be realloc'd and
//    freed without a report;
//  - the standard containers run on it (a checksum against a known value);
//  - the hard memory limit: malloc returns NULL with ENOMEM, operator new
//    throws std::bad_alloc, nothrow new returns nullptr;
//  - free of a pointer ebra never handed out is reported, not fatal;
//  - thread exit: a thread_local object and a last-round key destructor
//    that free after ebra's thread state is gone leave no cache attached;
//  - (argument "soft", with EBRA_SOFT_LIMIT=8M) the library starts the
//    engine's thread, which purges freed memory above the soft limit;
//  - fork from a multithreaded process: 16 children, forked while 4
//    threads allocate and free, each allocate, free and start a thread of
//    their own, and exit 0.
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ebra.h"

#define CHECK(c)                                                                 \
  do {                                                                           \
    if (!(c)) {                                                                  \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);      \
      _exit(1);                                                                  \
    }                                                                            \
  } while (0)

extern "C" {
extern void *early_blocks[64];
extern size_t early_sizes[64];
}

static std::atomic<unsigned long> reports[32];
static void hook(ebra_error_kind_t kind, const char *msg, void *) {
  reports[(unsigned)kind % 32]++;
  if (getenv("EBRA_TEST_VERBOSE"))
    fprintf(stderr, "  [report] %s: %s\n", ebra_error_kind_name(kind), msg);
}
static unsigned long total_reports() {
  unsigned long n = 0;
  for (auto &r : reports)
    n += r.load();
  return n;
}

static bool ours(const void *p) { return ebra_pool_of(p) != nullptr; }

static void test_c_api() {
  void *p = malloc(100);
  CHECK(p != nullptr);
  memset(p, 1, 100);
  CHECK(ours(p) && malloc_usable_size(p) == 112);
  p = realloc(p, 110);
  CHECK(ours(p));
  free(p);
  char *z = static_cast<char *>(calloc(10, 10));
  CHECK(z && ours(z) && z[99] == 0);
  free(z);
  void *a = aligned_alloc(256, 300);
  CHECK(a && ours(a) && ((uintptr_t)a & 255) == 0);
  free(a);
  void *m = nullptr;
  CHECK(posix_memalign(&m, 1024, 10) == 0 && ours(m) && ((uintptr_t)m & 1023) == 0);
  free(m);
  m = memalign(64, 10);
  CHECK(m && ((uintptr_t)m & 63) == 0);
  free(m);
  m = memalign(48, 10); // rounded up to 64, as glibc does
  CHECK(m && ((uintptr_t)m & 63) == 0);
  free(m);
  m = valloc(10);
  CHECK(m && ((uintptr_t)m & 4095) == 0);
  free(m);
  m = pvalloc(5000);
  CHECK(m && ((uintptr_t)m & 4095) == 0 && malloc_usable_size(m) >= 8192);
  free(m);
  void *big = malloc(10 << 20);
  CHECK(big && !ours(big) && malloc_usable_size(big) >= (10u << 20));
  free(big);
  CHECK(total_reports() == 0);
}

static void test_early() {
  for (int i = 0; i < 64; i++) {
    unsigned char *p = static_cast<unsigned char *>(early_blocks[i]);
    CHECK(p != nullptr);
    CHECK(!ours(p)); // the bootstrap arena, not a class
    CHECK(malloc_usable_size(p) == early_sizes[i]);
    const unsigned char want = i == 0 ? 0 : (unsigned char)i;
    for (size_t j = 0; j < early_sizes[i]; j++)
      CHECK(p[j] == want);
    if (i % 2) {
      p = static_cast<unsigned char *>(realloc(p, early_sizes[i] + 1000));
      CHECK(ours(p) && p[early_sizes[i] - 1] == want);
    }
    free(p);
  }
  CHECK(total_reports() == 0);
}

struct alignas(512) Wide {
  char bytes[700];
};

static void test_cxx() {
  std::map<int, std::string> m;
  std::unordered_map<std::string, int> h;
  std::vector<std::vector<int>> vv;
  unsigned long sum = 0;
  for (int i = 0; i < 20000; i++) {
    m[i % 5000] = std::string(static_cast<size_t>(i % 300), static_cast<char>('a' + i % 26));
    h[std::to_string(i)] = i;
    vv.emplace_back(static_cast<size_t>(i % 50), i);
    if (vv.size() > 1000)
      vv.erase(vv.begin(), vv.begin() + 500);
  }
  for (auto &kv : m)
    sum += kv.second.size();
  for (auto &kv : h)
    sum += static_cast<unsigned long>(kv.second);
  // sum of string lengths for the last write of each key + sum 0..19999
  unsigned long want = 0;
  for (int k = 0; k < 5000; k++)
    want += static_cast<unsigned long>((15000 + k) % 300);
  want += 19999ul * 20000ul / 2;
  CHECK(sum == want);
  Wide *w = new Wide();
  CHECK(((uintptr_t)w & 511) == 0 && ours(w));
  delete w;
  Wide *wa = new Wide[3];
  CHECK(((uintptr_t)wa & 511) == 0);
  delete[] wa;
  int *n = new (std::nothrow) int[10]();
  CHECK(n && ours(n));
  delete[] n;
  CHECK(total_reports() == 0);
}

static void test_hard_limit() {
  ebra_engine_stats_t es;
  ebra_malloc_stats_t ms;
  CHECK(ebra_engine_stats(&es) == 0 && ebra_malloc_stats(&ms) == 0);
  CHECK(ebra_option_set(EBRA_OPT_HARD_LIMIT, (long)(es.committed_bytes + ms.large_bytes + (8 << 20))) == 0);
  errno = 0;
  CHECK(malloc(64 << 20) == nullptr && errno == ENOMEM);
  bool thrown = false;
  try {
    void *c = ::operator new[](64 << 20); // a call, which the compiler may not elide
    ::operator delete[](c);
  } catch (const std::bad_alloc &) {
    thrown = true;
  }
  CHECK(thrown);
  CHECK(::operator new(64 << 20, std::nothrow) == nullptr);
  CHECK(reports[EBRA_ERR_MEMORY_LIMIT].load() >= 3);
  CHECK(ebra_option_set(EBRA_OPT_HARD_LIMIT, 0) == 0);
  reports[EBRA_ERR_MEMORY_LIMIT] = 0;
  CHECK(total_reports() == 0);
}

static void test_foreign() {
  static long not_heap[4];
  void *volatile p = &not_heap[1]; // hidden from the compiler's free check
  free(p);
  CHECK(reports[EBRA_ERR_FOREIGN_PTR].load() == 1);
  reports[EBRA_ERR_FOREIGN_PTR] = 0;
}

// ---- thread exit ------------------------------------------------------------------

struct LateFree {
  std::vector<std::string> v;
  ~LateFree() {
    v.clear();
    v.shrink_to_fit();
    free(malloc(48)); // after ebra's key destructor? (C++ TLS runs first)
  }
};
thread_local LateFree late_tls;
static pthread_key_t late_key;

static void late_destructor(void *arg) {
  const uintptr_t round = (uintptr_t)arg;
  if (round < 4) {
    pthread_setspecific(late_key, (void *)(round + 1));
    return;
  }
  free(malloc(48));
  std::string s(200, 'x');
}

static uint32_t threads_of(size_t size) {
  void *p = malloc(size);
  ebra_pool_stats_t st{}; // read below even when CHECK has reported a failure
  CHECK(ebra_pool_stats(ebra_pool_of(p), &st) == 0);
  free(p);
  return st.threads;
}

static void test_thread_exit() {
  CHECK(pthread_key_create(&late_key, late_destructor) == 0);
  const uint32_t before = threads_of(48);
  for (int i = 0; i < 16; i++) {
    std::thread t([] {
      late_tls.v.assign(10, std::string(100, 'y'));
      pthread_setspecific(late_key, (void *)1);
    });
    t.join();
  }
  CHECK(threads_of(48) == before);
  CHECK(total_reports() == 0);
}

// ---- fork from a multithreaded process --------------------------------------------

static std::atomic<bool> stop_workers;

static void churn(unsigned seed) {
  std::vector<void *> live(256, nullptr);
  while (!stop_workers.load(std::memory_order_relaxed)) {
    seed = seed * 1103515245u + 12345u;
    size_t i = (seed >> 8) % live.size();
    free(live[i]);
    live[i] = malloc((seed >> 4) % 3000 + ((seed & 7) == 0 ? 300000 : 0));
  }
  for (void *p : live)
    free(p);
}

static int child_work() {
  std::vector<char *> v;
  for (int i = 0; i < 20000; i++) {
    char *p = static_cast<char *>(malloc(static_cast<size_t>(i % 2000) + 1));
    if (!p)
      return 2;
    p[0] = static_cast<char>(i);
    v.push_back(p);
    if (v.size() > 500) {
      for (char *q : v)
        free(q);
      v.clear();
    }
  }
  for (char *q : v)
    free(q);
  std::thread t([] { churn(7); });
  stop_workers = true;
  t.join();
  return total_reports() == 0 ? 0 : 3;
}

static void test_fork() {
  stop_workers = false;
  std::vector<std::thread> workers;
  for (unsigned i = 0; i < 4; i++)
    workers.emplace_back(churn, i + 1);
  for (int k = 0; k < 16; k++) {
    usleep(2000);
    const pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
      _exit(child_work());
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "fork child %d: status 0x%x\n", k, status);
      _exit(1);
    }
  }
  stop_workers = true;
  for (auto &t : workers)
    t.join();
  CHECK(total_reports() == 0);
}

// Run with EBRA_SOFT_LIMIT=8M: the library started the engine's thread, so
// after 64 MiB of 4 KiB blocks are freed, steps above the soft limit purge
// the free slabs, with nobody calling ebra_maintain.
static int soft_limit_case() {
  ebra_engine_stats_t st;
  std::vector<void *> v;
  for (int i = 0; i < 16384; i++)
    v.push_back(malloc(4096));
  for (void *p : v)
    free(p);
  for (int i = 0; i < 300; i++) { // up to 3 s: the engine steps every 100 ms
    usleep(10000);
    CHECK(ebra_engine_stats(&st) == 0);
    if (st.soft_limit_steps > 0 && st.bytes_purged >= (32u << 20))
      break;
  }
  printf("soft limit: %llu steps above it, %llu MiB purged, %llu MiB committed\n",
         (unsigned long long)st.soft_limit_steps, (unsigned long long)(st.bytes_purged >> 20),
         (unsigned long long)(st.committed_bytes >> 20));
  CHECK(st.soft_limit == (8u << 20));
  CHECK(st.soft_limit_steps > 0);
  CHECK(st.bytes_purged >= (32u << 20));
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "soft"))
    return soft_limit_case();
  ebra_set_report_hook(hook, nullptr);
  const struct {
    const char *name;
    void (*fn)();
  } tests[] = {{"early", test_early},       {"c_api", test_c_api},     {"cxx", test_cxx},
               {"hard_limit", test_hard_limit}, {"foreign", test_foreign},
               {"thread_exit", test_thread_exit}, {"fork", test_fork}};
  for (auto &t : tests) {
    printf("%-20s", t.name);
    fflush(stdout);
    t.fn();
    printf(" ok\n");
    fflush(stdout);
  }
  return 0;
}
