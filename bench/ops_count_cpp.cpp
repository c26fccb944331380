// SPDX-License-Identifier: MIT
// bench/ops_count_cpp.cpp — the C++ layer's hot paths beside the C calls
// they wrap, for counting instructions per operation under callgrind
// (bench/callgrind_cpp.sh).  Both columns are compiled here, by the same
// compiler with the same flags, so the difference is the wrapper's own.
//   ops_count_cpp MODE N   MODE: c_pair (ebra_pool_alloc + ebra_pool_free,
//     64 B), c_pair_zero (the same with the object zeroed, which is what
//     value-initialising T() does), cpp_pair (ebra::pool<T>::make + destroy,
//     T a trivial 64-byte struct), cpp_pair_ctor (the same with a constructor that writes a
//     field and a destructor), c_section (ebra_read_lock + ebra_weak_get +
//     ebra_read_unlock), cpp_section (ebra::read_guard + ebra::weak<T>::get),
//     c_alloc_node (ebra_pool_alloc + free of a 32-byte object),
//     cpp_alloc_node (ebra::allocator<node>::allocate + deallocate)
// Setup is the same for every N: (Ir(N) - Ir(0)) / N is one operation.
#include <ebra/ebra.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace {
struct obj64 {
  char bytes[64];
};
struct obj64_ctor {
  long id;
  char bytes[56];
  explicit obj64_ctor(long i) : id(i) {}
  ~obj64_ctor() { id = -1; }
};
struct node {
  void *next, *prev;
  long value;
  long pad;
};
constexpr int NOBJ = 64;

[[noreturn]] void die(const char *what) {
  std::fprintf(stderr, "ops_count_cpp: %s failed\n", what);
  std::exit(1);
}
} // namespace

// The loops live in a function of their own: GCC optimises main, which
// runs once, for size and would not inline the wrappers there, unlike in
// any real caller.
struct scene {
  ebra::domain &d;
  ebra::pool<obj64> &p;
  ebra::pool<obj64_ctor> &pc;
  ebra_pool_t *pn;
  ebra::allocator<node> &a;
  ebra::weak_table<obj64> &t;
  ebra::weak<obj64> *w;
};

[[gnu::noinline]] static bool run(const char *mode, long n, scene &sc) {
  ebra::domain &d = sc.d;
  ebra::pool<obj64> &p = sc.p;
  ebra::pool<obj64_ctor> &pc = sc.pc;
  ebra_pool_t *pn = sc.pn;
  ebra::allocator<node> &a = sc.a;
  ebra::weak_table<obj64> &t = sc.t;
  ebra::weak<obj64> *w = sc.w;
  void *volatile sink;
  if (!std::strcmp(mode, "c_pair")) {
    for (long i = 0; i < n; i++) {
      void *o = ebra_pool_alloc(p.get());
      sink = o;
      ebra_pool_free(p.get(), o);
    }
  } else if (!std::strcmp(mode, "c_pair_zero")) {
    for (long i = 0; i < n; i++) {
      void *o = ebra_pool_alloc(p.get());
      std::memset(o, 0, sizeof(obj64));
      sink = o;
      ebra_pool_free(p.get(), o);
    }
  } else if (!std::strcmp(mode, "cpp_pair")) {
    for (long i = 0; i < n; i++) {
      obj64 *o = p.make();
      sink = o;
      p.destroy(o);
    }
  } else if (!std::strcmp(mode, "cpp_pair_ctor")) {
    for (long i = 0; i < n; i++) {
      obj64_ctor *o = pc.make(i);
      sink = o;
      pc.destroy(o);
    }
  } else if (!std::strcmp(mode, "c_section")) {
    for (long i = 0; i < n; i++) {
      ebra_read_lock(d.get());
      sink = ebra_weak_get(t.get(), w[i & (NOBJ - 1)].handle());
      ebra_read_unlock(d.get());
    }
  } else if (!std::strcmp(mode, "cpp_section")) {
    for (long i = 0; i < n; i++) {
      ebra::read_guard g(d);
      sink = w[i & (NOBJ - 1)].get(g);
    }
  } else if (!std::strcmp(mode, "c_alloc_node")) {
    for (long i = 0; i < n; i++) {
      void *o = ebra_pool_alloc(pn);
      sink = o;
      ebra_pool_free(pn, o);
    }
  } else if (!std::strcmp(mode, "cpp_alloc_node")) {
    for (long i = 0; i < n; i++) {
      node *o = a.allocate(1);
      sink = o;
      a.deallocate(o, 1);
    }
  } else {
    return false;
  }
  (void)sink;
  return true;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: ops_count_cpp MODE N\n");
    return 2;
  }
  const char *mode = argv[1];
  const long n = std::atol(argv[2]);
  ebra_domain_config_t dc{};
  dc.name = "ops";
  dc.backend = EBRA_RECLAIM_URCU_MEMB;
  ebra::domain d(dc);
  ebra::pool<obj64> p("ops");
  ebra::pool<obj64_ctor> pc("ops-ctor");
  ebra_pool_config_t c32{};
  c32.name = "ops-node";
  c32.object_size = sizeof(node);
  ebra_pool_t *pn = ebra_pool_create(&c32);
  ebra::pool_resource r("ops-resource");
  ebra::allocator<node> a(r);
  ebra::weak_table<obj64> t(d);
  ebra::strong<obj64> owners[NOBJ];
  ebra::weak<obj64> w[NOBJ];
  for (int i = 0; i < NOBJ; i++) {
    owners[i] = t.make(p);
    w[i] = owners[i].downgrade();
  }
  if (!pn)
    die("setup");
  { ebra::read_guard g(d); } // registers the thread
  a.deallocate(a.allocate(1), 1); // creates the size class
  scene sc{d, p, pc, pn, a, t, w};
  if (!run(mode, n, sc))
    die(mode);
  _exit(0); // no teardown: the same instructions for every N
}
