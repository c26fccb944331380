// SPDX-License-Identifier: MIT
// consumer_cxx.cpp — a C++17 program built against an *installed* ebra
// through the same CMake package or pkg-config file as consumer.c, using
// the C++ layer (ebra/ebra.hpp) and a few C calls.  Prints "consumer ok"
// and exits 0, or says what failed and exits 1.
#include <ebra/ebra.hpp>

#include <cstdio>
#include <cstring>
#include <list>
#include <string>

static int failures;
#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "consumer_cxx: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                              \
      failures++;                                                                       \
    }                                                                                   \
  } while (0)

struct item {
  std::string text;
  explicit item(std::string t) : text(std::move(t)) {}
};

int main() {
  {
    ebra::domain dom("consumer-cxx");
    ebra::pool<item> items("consumer-cxx-items");
    item *a = items.make("made");
    CHECK(a->text == "made");
    CHECK(items.destroy(a) == 0);

    ebra::weak_table<item> table(dom);
    ebra::strong<item> s = table.make(items, "weak");
    ebra::weak<item> w = s.downgrade();
    {
      ebra::read_guard g(dom);
      CHECK(w.get(g) == s.get());
    }
    CHECK(s.reset() == 0);
    CHECK(!w.lock());
    CHECK(dom.barrier() == 0);
    ebra_pool_stats_t st{};
    CHECK(items.stats(&st) == 0 && st.objects_live == 0);

    ebra::pool_resource nodes("consumer-cxx-nodes");
    std::list<int, ebra::allocator<int>> l{ebra::allocator<int>(nodes)};
    for (int i = 0; i < 100; i++)
      l.push_back(i);
    CHECK(l.size() == 100 && l.back() == 99);
    CHECK(dom.unregister_thread() == 0);
  }
  CHECK(std::strcmp(ebra_version(), EBRA_VERSION_STRING) == 0);
  if (failures != 0) {
    std::fprintf(stderr, "consumer_cxx: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("consumer ok (C++, ebra %s)\n", ebra_version());
  return 0;
}
