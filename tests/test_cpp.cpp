// SPDX-License-Identifier: MIT
// test_cpp.cpp — the C++17 layer (ebra/ebra.hpp), built with -std=c++17 and
// again with -std=c++20, -Wall -Wextra -pedantic -Werror.
//
// Claims checked:
//  - pool<T>: make constructs (arguments forwarded), destroy runs ~T once
//    and frees (live objects back to 0); a throwing constructor frees the
//    object; the cap gives std::bad_alloc; destroy of another pool's
//    object is refused (-EXDEV, reported) without running ~T; retire runs
//    ~T after a grace period (after barrier, not before the retire);
//  - read_guard holds a section: a barrier inside it is -EDEADLK; the
//    guard's end lets the barrier through; a guard on a NULL domain throws
//    std::system_error whose message is ebra_strerror's;
//  - pool_resource and allocator<T>: std::list, std::map and
//    std::vector with the allocator put their nodes in ebra pools (the
//    pools' live counts follow the containers' sizes and return to 0),
//    blocks above 1 KiB go upstream, allocators of one resource compare
//    equal across rebinding; std::pmr::vector works on the resource;
//  - weak_table<T>: make gives a strong reference; weak::get in a section
//    resolves it; copies of strong are counted (the object lives until the
//    last one goes); lock() of a dead object is empty; ~T runs once, after
//    the grace period, and the object returns to its pool; kill ends it at
//    once (lock() is empty) even with another strong reference held, which
//    keeps the object readable until it is released.
#include <ebra/ebra.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <vector>

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

static int reports[EBRA_REPORT_KINDS];
static void hook(ebra_error_kind_t kind, const char *, void *) { reports[kind]++; }
static int take_reports(ebra_error_kind_t kind) {
  int n = reports[kind];
  std::memset(reports, 0, sizeof reports);
  return n;
}

struct tracked {
  static int alive;
  static int destroyed;
  std::string name;
  int value;
  explicit tracked(std::string n, int v = 0) : name(std::move(n)), value(v) { alive++; }
  ~tracked() {
    alive--;
    destroyed++;
  }
};
int tracked::alive = 0;
int tracked::destroyed = 0;

struct throws_on_build {
  explicit throws_on_build(bool t) {
    if (t)
      throw std::runtime_error("no");
  }
};

static uint64_t live_of(ebra_pool_t *p) {
  ebra_pool_stats_t st{};
  CHECK(ebra_pool_stats(p, &st) == 0);
  return st.objects_live;
}

static void test_pool() {
  ebra_pool_config_t cfg{};
  cfg.name = "cpp-tracked";
  cfg.max_objects = 4;
  ebra::pool<tracked> p(cfg);
  tracked *a = p.make("a", 1);
  CHECK(a->name == "a" && a->value == 1 && tracked::alive == 1);
  CHECK(live_of(p.get()) == 1);
  CHECK(p.destroy(a) == 0);
  CHECK(tracked::alive == 0 && live_of(p.get()) == 0);
  CHECK(p.destroy(nullptr) == 0);

  tracked *all[4];
  for (auto &t : all)
    t = p.make("cap");
  bool threw = false;
  try {
    p.make("one too many");
  } catch (const std::bad_alloc &) {
    threw = true;
  }
  CHECK(threw && tracked::alive == 4);
  CHECK(take_reports(EBRA_ERR_CAP_REACHED) == 1);
  for (auto *t : all)
    CHECK(p.destroy(t) == 0);

  ebra::pool<tracked> other("cpp-other");
  tracked *o = other.make("o");
  CHECK(p.destroy(o) == -EXDEV); // refused: ~T not run, object untouched
  CHECK(take_reports(EBRA_ERR_WRONG_POOL) == 1);
  CHECK(tracked::alive == 1 && o->name == "o");
  CHECK(other.destroy(o) == 0);

  ebra::pool<throws_on_build> tp("cpp-throws");
  threw = false;
  try {
    tp.make(true);
  } catch (const std::runtime_error &) {
    threw = true;
  }
  CHECK(threw && live_of(tp.get()) == 0);
  CHECK(tp.destroy(tp.make(false)) == 0);
}

static void test_read_guard_and_retire() {
  ebra::domain d("cpp-domain");
  ebra::pool<tracked> p("cpp-retire");
  tracked *t = p.make("retired");
  const int before = tracked::destroyed;
  {
    ebra::read_guard g = d.read();
    CHECK(g.domain_ptr() == d.get());
    CHECK(p.retire(d, t) == 0);
    CHECK(d.barrier() == -EDEADLK); // inside a section
    CHECK(take_reports(EBRA_ERR_BAD_CALL) == 1);
    CHECK(tracked::destroyed == before); // the reader may still read it
    CHECK(t->name == "retired");
  }
  CHECK(d.barrier() == 0);
  CHECK(tracked::destroyed == before + 1 && live_of(p.get()) == 0);
  bool threw = false;
  try {
    ebra::read_guard bad(static_cast<ebra_domain_t *>(nullptr));
  } catch (const std::system_error &e) {
    threw = e.code() == ebra::make_error_code(-EINVAL) &&
            std::string(e.what()).find(ebra_strerror(-EINVAL)) != std::string::npos;
  }
  CHECK(threw);
  CHECK(take_reports(EBRA_ERR_BAD_CALL) == 1);
  CHECK(std::string(ebra::error_category().name()) == "ebra");
  CHECK(ebra::make_error_code(-EXDEV).message() == ebra_strerror(-EXDEV));
  CHECK(d.unregister_thread() == 0);
}

static void test_allocator() {
  ebra::pool_resource r("cpp-alloc");
  {
    ebra::allocator<int> a(r);
    std::list<int, ebra::allocator<int>> l(a);
    for (int i = 0; i < 100; i++)
      l.push_back(i);
    ebra_pool_t *node_pool = r.pool_for(sizeof(int) + 2 * sizeof(void *), alignof(void *));
    CHECK(node_pool != nullptr);
    CHECK(live_of(node_pool) == 100);
    l.pop_front();
    CHECK(live_of(node_pool) == 99);

    using pair_t = std::pair<const int, long>;
    std::map<int, long, std::less<int>, ebra::allocator<pair_t>> m{ebra::allocator<pair_t>(r)};
    for (int i = 0; i < 50; i++)
      m[i] = i * 2L;
    CHECK(m.size() == 50 && m[7] == 14);

    std::vector<int, ebra::allocator<int>> small(10, 1, a); // 40 bytes: pooled
    CHECK(live_of(r.pool_for(40, alignof(int))) >= 1);
    std::vector<char, ebra::allocator<char>> big(4096, 'x', ebra::allocator<char>(r));
    CHECK(r.pool_for(4096, 1) == nullptr); // above max_pooled: upstream
    CHECK(big[4095] == 'x');

    ebra::allocator<double> rebound(a);
    CHECK(rebound == a && !(rebound != a));
    ebra::pool_resource other;
    CHECK(ebra::allocator<int>(other) != a);

    std::pmr::vector<std::pmr::string> pv(&r);
    pv.emplace_back("a string long enough to need its own block, past SSO");
    CHECK(pv.back().size() > 30);
  }
  // Every container is gone: every pooled object came back.
  for (std::size_t bytes = ebra::pool_resource::granule; bytes <= ebra::pool_resource::max_pooled;
       bytes += ebra::pool_resource::granule)
    CHECK(live_of(r.pool_for(bytes, 1)) == 0);
}

static void test_weak() {
  ebra::domain d("cpp-weak");
  ebra::pool<tracked> p("cpp-weak-objects");
  const int destroyed0 = tracked::destroyed;
  {
    ebra::weak_table<tracked> tab(d, "cpp-table");
    ebra::strong<tracked> s = tab.make(p, "w", 7);
    CHECK(s && s->value == 7 && (*s).name == "w");
    ebra::weak<tracked> w = s.downgrade();
    {
      ebra::read_guard g(d);
      tracked *t = w.get(g);
      CHECK(t == s.get());
    }
    ebra::strong<tracked> s2 = s;      // a counted copy
    CHECK(s2.get() == s.get());
    CHECK(s.reset() == 0);             // one reference left
    CHECK(w.lock().get() == s2.get()); // still alive
    ebra::strong<tracked> moved = std::move(s2);
    CHECK(!s2 && moved);
    CHECK(moved.reset() == 0);         // the last: the object dies
    CHECK(!w.lock());
    {
      ebra::read_guard g(d);
      CHECK(w.get(g) == nullptr);
    }
    CHECK(tracked::destroyed == destroyed0); // not before the grace period
    CHECK(d.barrier() == 0);
    CHECK(tracked::destroyed == destroyed0 + 1 && live_of(p.get()) == 0);

    // kill: every handle dies at once, even with another reference held;
    // that reference keeps the memory (and T) until it is released.
    ebra::strong<tracked> k = tab.make(p, "k");
    ebra::strong<tracked> other = k;
    ebra::weak<tracked> kw = k.downgrade();
    CHECK(k.kill() == 0 && !k);
    CHECK(!kw.lock());
    CHECK(other->name == "k");
    CHECK(other.reset() == 0);
    CHECK(d.barrier() == 0);
    CHECK(tracked::destroyed == destroyed0 + 2 && live_of(p.get()) == 0);
  }
  CHECK(d.unregister_thread() == 0);
}

int main() {
  ebra_option_set(EBRA_OPT_REPORT_LIMIT, 0);
  ebra_set_report_hook(hook, nullptr);
  test_pool();
  test_read_guard_and_retire();
  test_allocator();
  test_weak();
  for (int k = 0; k < EBRA_REPORT_KINDS; k++)
    if (reports[k]) {
      std::fprintf(stderr, "unexpected %d report(s) of kind %s\n", reports[k],
                   ebra_error_kind_name(static_cast<ebra_error_kind_t>(k)));
      return 1;
    }
  CHECK(tracked::alive == 0);
  std::printf("test_cpp (C++%ld) ok\n", static_cast<long>(__cplusplus / 100 % 100));
  return 0;
}
