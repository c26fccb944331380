/* SPDX-License-Identifier: MIT */
/** @file ebra/ebra.hpp
 * @brief A header-only C++17 layer over the C API: RAII owners, a typed
 * pool, a standard allocator and typed weak and strong handles.
 *
 * Everything here is an inline wrapper of the C calls in <ebra.h>; nothing
 * is added on a fast path but what the wrapper states (a constructor or
 * destructor call of T, a null test).  Errors: constructors of the owners
 * and allocations throw (std::system_error with ebra's error category, or
 * std::bad_alloc); every other call returns what the C call returns
 * (0 or a negative errno) and never throws.  Misuse is reported through the
 * report hook exactly as in C.
 *
 * Threads: the same as the C calls each wrapper makes.  An owner (domain,
 * pool, weak_table, pool_resource) must outlive everything made from it,
 * and is destroyed by one thread after every other use ended, as in C.
 */
#ifndef EBRA_EBRA_HPP
#define EBRA_EBRA_HPP

#if __cplusplus < 201703L
#error "ebra/ebra.hpp needs C++17 or later"
#endif

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "ebra.h"

/* The wrappers of fast paths (a section, resolving a handle, make and
 * destroy, the allocator) are forced inline: left to itself GCC keeps some
 * of them out of line in callers with many call sites, which costs 10 to
 * 20 instructions per call (bench/callgrind_cpp.sh). */
#define EBRA_HPP_FAST [[gnu::always_inline]] /**< force inlining (undefined at the end) */

/** The C++ layer. */
namespace ebra {

/** The error category of ebra's errno values: message() is ebra_strerror. */
class error_category_impl final : public std::error_category {
public:
  /** Returns "ebra". */
  const char *name() const noexcept override { return "ebra"; }
  /** Returns ebra_strerror(ev), ebra's explanation of the errno value. */
  std::string message(int ev) const override { return ebra_strerror(ev); }
};

/** Returns the one ebra error category. */
inline const std::error_category &error_category() noexcept {
  static const error_category_impl category;
  return category;
}

/** Returns an error_code for an errno value, positive or negative (as the
 * C calls return them). */
inline std::error_code make_error_code(int err) noexcept {
  return {err < 0 ? -err : err, error_category()};
}

namespace detail {
/** Throws std::system_error for err (positive or negative).  The throws
 * live out of line and cold, so that the wrappers' fast paths inline into
 * their callers (bench/callgrind_cpp.sh measures them). */
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_errno(int err, const char *what) {
  throw std::system_error(make_error_code(err != 0 ? err : EINVAL), what);
}
/** Throws std::bad_alloc, out of line. */
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_bad_alloc() { throw std::bad_alloc(); }
} // namespace detail

class read_guard;

/** Owns a reclamation domain (ebra_domain_create / ebra_domain_destroy). */
class domain {
public:
  /** Creates a domain.  Throws std::system_error (EINVAL, ENOMEM, EAGAIN). */
  explicit domain(const ebra_domain_config_t &cfg = {}) : d_(ebra_domain_create(&cfg)) {
    if (!d_)
      detail::throw_errno(errno, "ebra_domain_create");
  }
  /** Creates a domain named name. */
  explicit domain(const char *name) : domain(named(name)) {}
  /** Destroys the domain; a refusal (-EBUSY: threads or tables left) is
   * reported by the C call. */
  ~domain() {
    if (d_)
      ebra_domain_destroy(d_);
  }
  domain(const domain &) = delete;
  domain &operator=(const domain &) = delete;

  /** Returns the C domain. */
  ebra_domain_t *get() const noexcept { return d_; }
  /** Returns ebra_domain_barrier(): 0 once everything retired before the
   * call was reclaimed, or a negative errno. */
  int barrier() noexcept { return ebra_domain_barrier(d_); }
  /** Returns ebra_domain_unregister_thread() for the calling thread. */
  int unregister_thread() noexcept { return ebra_domain_unregister_thread(d_); }
  /** Returns a guard holding a read section of this domain. */
  read_guard read() const;

private:
  static ebra_domain_config_t named(const char *name) {
    ebra_domain_config_t c{}; /* every other field 0: its default */
    c.name = name;
    return c;
  }
  ebra_domain_t *d_;
};

/** A read section of a domain, held for the guard's lifetime
 * (ebra_read_lock in the constructor, ebra_read_unlock in the destructor).
 * Wait-free on every backend after the thread's first section.  Neither
 * copyable nor movable (a section belongs to its scope and its thread);
 * domain::read() returns one by guaranteed copy elision. */
class read_guard {
public:
  /** Enters a section of d.  Throws std::system_error if ebra_read_lock
   * fails (-EINVAL, -EBADF, -ENOMEM). */
  EBRA_HPP_FAST explicit read_guard(ebra_domain_t *d) : d_(d) {
    const int rc = ebra_read_lock(d);
    if (rc != 0)
      detail::throw_errno(rc, "ebra_read_lock");
  }
  /** Enters a section of d. */
  EBRA_HPP_FAST explicit read_guard(const domain &d) : read_guard(d.get()) {}
  /** Leaves the section (if this guard still holds it). */
  EBRA_HPP_FAST ~read_guard() { ebra_read_unlock(d_); }
  read_guard(read_guard &&) = delete;
  read_guard(const read_guard &) = delete;
  read_guard &operator=(const read_guard &) = delete;
  read_guard &operator=(read_guard &&) = delete;
  /** Returns the domain whose section is held. */
  ebra_domain_t *domain_ptr() const noexcept { return d_; }

private:
  ebra_domain_t *d_;
};

inline read_guard domain::read() const { return read_guard(d_); }

/** A pool of T: make() constructs a T in a pool object, destroy() runs ~T
 * and frees it; retire() does the same after a grace period. */
template <class T>
class pool {
  static_assert(sizeof(T) <= EBRA_MAX_OBJECT_SIZE, "T is larger than a pool object can be");
  static_assert(alignof(T) <= EBRA_MAX_ALIGNMENT, "T is aligned beyond what a pool offers");

public:
  /** Creates the pool: object_size and alignment come from T; the other
   * fields of cfg (name, prealloc, max_objects, flags, magazine_capacity)
   * are used as given.  Throws std::system_error (EINVAL, ENOMEM). */
  explicit pool(ebra_pool_config_t cfg = {}) {
    cfg.object_size = sizeof(T);
    cfg.alignment = alignof(T) < EBRA_MIN_ALIGNMENT ? EBRA_MIN_ALIGNMENT : alignof(T);
    p_ = ebra_pool_create(&cfg);
    if (!p_)
      detail::throw_errno(errno, "ebra_pool_create");
  }
  /** Creates a pool named name. */
  explicit pool(const char *name) : pool(named(name)) {}
  /** Destroys the pool (objects still live are reported by the C call). */
  ~pool() {
    if (p_)
      ebra_pool_destroy(p_);
  }
  pool(const pool &) = delete;
  pool &operator=(const pool &) = delete;

  /** Returns a new T constructed from args in a pool object.  Throws
   * std::bad_alloc when the pool refuses (cap, memory limit, ENOMEM), and
   * whatever T's constructor throws (the object is freed first). */
  template <class... A>
  EBRA_HPP_FAST T *make(A &&...args) {
    void *m = ebra_pool_alloc(p_);
    if (!m)
      detail::throw_bad_alloc();
    try {
      return ::new (m) T(std::forward<A>(args)...);
    } catch (...) {
      ebra_pool_free(p_, m);
      throw;
    }
  }
  /** Runs ~T and frees the object.  Returns 0, or ebra_pool_free's
   * negative errno for a pointer this pool did not hand out; when T has a
   * destructor, ~T is then not run (the pointer is looked up first, which
   * costs a segment-map lookup; a trivially destructible T skips it and
   * costs what ebra_pool_free does).  nullptr: 0. */
  EBRA_HPP_FAST int destroy(T *t) noexcept {
    if (!t)
      return 0;
    if constexpr (!std::is_trivially_destructible_v<T>) {
      if (ebra_pool_of(t) != p_)
        return ebra_pool_free(p_, t); /* refused and reported: wrong pool or foreign */
      t->~T();
    }
    return ebra_pool_free(p_, t);
  }
  /** Runs ~T and frees the object after a grace period of d (readers in a
   * section may still read it until then).  Returns 0 or the negative
   * errno of ebra_retire_call (-ENOMEM). */
  int retire(const domain &d, T *t) noexcept { return retire(d.get(), t); }
  /** As retire(const domain&, T*), for a C domain. */
  int retire(ebra_domain_t *d, T *t) noexcept {
    return t ? ebra_retire_call(d, &destroy_retired, t) : 0;
  }
  /** Returns the C pool. */
  ebra_pool_t *get() const noexcept { return p_; }
  /** Returns ebra_pool_stats() into *out: 0 or a negative errno. */
  int stats(ebra_pool_stats_t *out) const noexcept { return ebra_pool_stats(p_, out); }

private:
  static ebra_pool_config_t named(const char *name) {
    ebra_pool_config_t c{};
    c.name = name;
    return c;
  }
  static void destroy_retired(void *arg) {
    T *t = static_cast<T *>(arg);
    ebra_pool_t *p = ebra_pool_of(t);
    t->~T();
    ebra_pool_free(p, t);
  }
  ebra_pool_t *p_ = nullptr;
};

/** A std::pmr::memory_resource over ebra pools: one pool per 16-byte size
 * class up to max_pooled bytes (created on first use, thread-safe), larger
 * or over-aligned requests go to the upstream resource.  Freed memory goes
 * back to the pool it came from.  Destroy it after every container that
 * uses it. */
class pool_resource : public std::pmr::memory_resource {
public:
  /** The largest request served from a pool, in bytes. */
  static constexpr std::size_t max_pooled = 1024;
  /** The size-class step and the alignment every pool object has. */
  static constexpr std::size_t granule = 16;

  /** A resource whose pools are named name (NULL: "pool_resource"). */
  explicit pool_resource(const char *name = nullptr,
                         std::pmr::memory_resource *upstream = std::pmr::new_delete_resource())
      : name_(name ? name : "pool_resource"), upstream_(upstream) {}
  /** Destroys the pools (live objects in them are reported). */
  ~pool_resource() override {
    for (auto &slot : pools_)
      if (ebra_pool_t *p = slot.load(std::memory_order_acquire))
        ebra_pool_destroy(p);
  }
  pool_resource(const pool_resource &) = delete;
  pool_resource &operator=(const pool_resource &) = delete;

  /** Returns the pool serving requests of bytes (creating it on first
   * use), or nullptr for a request that goes upstream.  Throws
   * std::bad_alloc if the pool cannot be created. */
  ebra_pool_t *pool_for(std::size_t bytes, std::size_t alignment) {
    if (bytes > max_pooled || alignment > granule)
      return nullptr;
    const std::size_t cls = bytes == 0 ? 0 : (bytes - 1) / granule;
    /* acquire: paired with the release CAS below; the pool is fully
     * created before it is published. */
    ebra_pool_t *p = pools_[cls].load(std::memory_order_acquire);
    return p ? p : create_class(cls);
  }
  /** As pool_for, but returns nullptr instead of throwing when the pool
   * cannot be created. */
  ebra_pool_t *try_pool_for(std::size_t bytes, std::size_t alignment) noexcept {
    try {
      return pool_for(bytes, alignment);
    } catch (...) {
      return nullptr;
    }
  }
  /** Returns memory for bytes; what do_allocate does, without the virtual
   * call (allocator<T> calls it).  Throws std::bad_alloc. */
  void *allocate_direct(std::size_t bytes, std::size_t alignment) {
    ebra_pool_t *p = pool_for(bytes, alignment);
    if (!p)
      return upstream_->allocate(bytes, alignment);
    void *m = ebra_pool_alloc(p);
    if (!m)
      detail::throw_bad_alloc();
    return m;
  }
  /** Returns memory allocate_direct (or allocate) gave for bytes. */
  void deallocate_direct(void *m, std::size_t bytes, std::size_t alignment) noexcept {
    if (bytes > max_pooled || alignment > granule)
      upstream_->deallocate(m, bytes, alignment);
    else /* acquire: as in pool_for; the class exists, m came from it */
      ebra_pool_free(pools_[bytes == 0 ? 0 : (bytes - 1) / granule].load(std::memory_order_acquire), m);
  }

private:
  void *do_allocate(std::size_t bytes, std::size_t alignment) override {
    return allocate_direct(bytes, alignment);
  }
  void do_deallocate(void *m, std::size_t bytes, std::size_t alignment) override {
    deallocate_direct(m, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource &o) const noexcept override { return this == &o; }

  /* Once per size class: kept out of line so that the allocation path
   * inlines into its caller. */
  [[gnu::noinline, gnu::cold]] ebra_pool_t *create_class(std::size_t cls) {
    ebra_pool_config_t cfg{};
    cfg.name = name_;
    cfg.object_size = (cls + 1) * granule;
    cfg.alignment = granule;
    ebra_pool_t *p = ebra_pool_create(&cfg);
    if (!p)
      detail::throw_bad_alloc();
    ebra_pool_t *expected = nullptr;
    /* release: publishes the created pool (acquire loads above). */
    if (!pools_[cls].compare_exchange_strong(expected, p, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
      ebra_pool_destroy(p); /* another thread created the class first */
      return expected;
    }
    return p;
  }

  const char *name_;
  std::pmr::memory_resource *upstream_;
  std::atomic<ebra_pool_t *> pools_[max_pooled / granule] = {};
};

/** A standard allocator (std::allocator_traits-complete) over a
 * pool_resource: node containers (std::list, std::map, std::set,
 * std::unordered_map) take each node from an ebra pool; std::vector's
 * blocks up to pool_resource::max_pooled bytes too.  Allocators of one
 * resource compare equal and rebind to any type. */
template <class T>
class allocator {
public:
  using value_type = T; /**< what it allocates */

  /** An allocator drawing from r, which must outlive it and every
   * container using it.  It looks up (creating it if need be) the pool of
   * one T now, so that allocate(1), what node containers call, is one
   * ebra_pool_alloc. */
  explicit allocator(pool_resource &r) noexcept : r_(&r), one_(r.try_pool_for(sizeof(T), alignof(T))) {}
  /** Rebinding copy. */
  template <class U>
  allocator(const allocator<U> &o) noexcept
      : r_(o.resource()), one_(o.resource()->try_pool_for(sizeof(T), alignof(T))) {}

  /** Returns memory for n objects of T.  Throws std::bad_alloc. */
  EBRA_HPP_FAST T *allocate(std::size_t n) {
    if (n == 1 && one_) {
      void *m = ebra_pool_alloc(one_);
      if (!m)
        detail::throw_bad_alloc();
      return static_cast<T *>(m);
    }
    if (n > static_cast<std::size_t>(-1) / sizeof(T))
      detail::throw_bad_alloc();
    return static_cast<T *>(r_->allocate_direct(n * sizeof(T), alignof(T)));
  }
  /** Returns memory allocate(n) gave. */
  EBRA_HPP_FAST void deallocate(T *p, std::size_t n) noexcept {
    if (n == 1 && one_)
      ebra_pool_free(one_, p);
    else
      r_->deallocate_direct(p, n * sizeof(T), alignof(T));
  }
  /** Returns the resource. */
  pool_resource *resource() const noexcept { return r_; }

  /** Returns true if both allocate from one resource. */
  template <class U>
  bool operator==(const allocator<U> &o) const noexcept { return r_ == o.resource(); }
  /** Returns true if they allocate from different resources. */
  template <class U>
  bool operator!=(const allocator<U> &o) const noexcept { return r_ != o.resource(); }

private:
  pool_resource *r_;
  ebra_pool_t *one_; /* the pool of one T; nullptr: T goes upstream */
};

template <class T>
class strong;
template <class T>
class weak;

/** Owns a weak table whose objects are T made in a pool<T>.  make() gives
 * the object a handle and returns the first strong reference; when the
 * object dies and no strong reference is left, ~T runs after a grace
 * period (as the object's first cleanup: cleanups added later, such as a
 * weak cache's DIED callback, see it destroyed) and it returns to its
 * pool. */
template <class T>
class weak_table {
public:
  /** Creates the table in domain d.  Throws std::system_error (EINVAL,
   * EBADF, EMFILE, ENOMEM). */
  explicit weak_table(const domain &d, const char *name = nullptr) {
    ebra_weak_table_config_t cfg{};
    cfg.name = name;
    t_ = ebra_weak_table_create(d.get(), &cfg);
    if (!t_)
      detail::throw_errno(errno, "ebra_weak_table_create");
  }
  /** Destroys the table (-EBUSY, reported, while objects are alive or
   * await reclamation: kill them and call domain::barrier() first). */
  ~weak_table() {
    if (t_)
      ebra_weak_table_destroy(t_);
  }
  weak_table(const weak_table &) = delete;
  weak_table &operator=(const weak_table &) = delete;

  /** Returns a strong reference to a new T made in p from args.  Throws
   * std::bad_alloc (pool or table full), std::system_error, or what T's
   * constructor throws; nothing leaks. */
  template <class... A>
  strong<T> make(pool<T> &p, A &&...args);
  /** Returns the C table. */
  ebra_weak_table_t *get() const noexcept { return t_; }

private:
  static void destroy_dead(void *arg, ebra_weak_t) { static_cast<T *>(arg)->~T(); }
  ebra_weak_table_t *t_ = nullptr;
};

/** A counted strong reference to an object of a weak_table<T>: the object
 * stays alive while one exists (ebra_weak_upgrade / ebra_weak_release).
 * Copying takes another reference (empty if the object was killed);
 * moving transfers it. */
template <class T>
class strong {
public:
  /** An empty reference. */
  strong() noexcept = default;
  /** Releases the reference. */
  ~strong() { reset(); }
  /** Takes another reference to o's object (empty if it was killed). */
  strong(const strong &o) noexcept { copy_from(o); }
  /** Takes over o's reference; o is left empty. */
  strong(strong &&o) noexcept
      : t_(std::exchange(o.t_, nullptr)), h_(std::exchange(o.h_, EBRA_WEAK_NONE)),
        p_(std::exchange(o.p_, nullptr)) {}
  /** Copy-assignment: releases the old reference, takes a new one. */
  strong &operator=(const strong &o) noexcept {
    if (this != &o) {
      reset();
      copy_from(o);
    }
    return *this;
  }
  /** Move-assignment. */
  strong &operator=(strong &&o) noexcept {
    if (this != &o) {
      reset();
      t_ = std::exchange(o.t_, nullptr);
      h_ = std::exchange(o.h_, EBRA_WEAK_NONE);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }

  /** Returns the object, or nullptr if empty. */
  T *get() const noexcept { return p_; }
  /** Returns the object (not empty). */
  T &operator*() const noexcept { return *p_; }
  /** Returns the object (not empty). */
  T *operator->() const noexcept { return p_; }
  /** Returns true if it holds a reference. */
  explicit operator bool() const noexcept { return p_ != nullptr; }
  /** Returns the handle (EBRA_WEAK_NONE if empty). */
  ebra_weak_t handle() const noexcept { return h_; }
  /** Returns a weak reference to the same object. */
  weak<T> downgrade() const noexcept { return weak<T>(t_, h_); }

  /** Drops this reference (the last one kills the object).  Returns 0, or
   * ebra_weak_release's negative errno; 0 when already empty. */
  int reset() noexcept {
    const int rc = p_ ? ebra_weak_release(t_, h_) : 0;
    t_ = nullptr;
    h_ = EBRA_WEAK_NONE;
    p_ = nullptr;
    return rc;
  }
  /** Kills the object now (every handle resolves to nothing) and drops
   * this reference.  Returns 0 or ebra_weak_kill's negative errno. */
  int kill() noexcept {
    const int rc = p_ ? ebra_weak_kill(t_, h_) : -ESTALE;
    t_ = nullptr;
    h_ = EBRA_WEAK_NONE;
    p_ = nullptr;
    return rc;
  }

private:
  friend class weak_table<T>;
  friend class weak<T>;
  strong(ebra_weak_table_t *t, ebra_weak_t h, T *p) noexcept : t_(t), h_(h), p_(p) {}
  void copy_from(const strong &o) noexcept {
    void *p = nullptr;
    if (o.p_ && ebra_weak_upgrade(o.t_, o.h_, &p) == 0) {
      t_ = o.t_;
      h_ = o.h_;
      p_ = static_cast<T *>(p);
    }
  }
  ebra_weak_table_t *t_ = nullptr;
  ebra_weak_t h_ = EBRA_WEAK_NONE;
  T *p_ = nullptr;
};

/** A weak reference: a table and a handle, copyable, never keeps the
 * object alive.  Resolve it inside a read section (get) or take a strong
 * reference (lock). */
template <class T>
class weak {
public:
  /** An empty reference. */
  weak() noexcept = default;
  /** A reference to handle h of table t. */
  weak(ebra_weak_table_t *t, ebra_weak_t h) noexcept : t_(t), h_(h) {}
  /** A reference to handle h of table t. */
  weak(const weak_table<T> &t, ebra_weak_t h) noexcept : t_(t.get()), h_(h) {}

  /** Returns the object, or nullptr if it died.  The guard must hold a
   * section of the table's domain; the object stays valid while it does.
   * Wait-free, writes no shared memory (ebra_weak_get). */
  EBRA_HPP_FAST T *get(const read_guard &g) const noexcept {
    (void)g; /* an empty weak has no table: nullptr, not a NULL-table report */
    return t_ ? static_cast<T *>(ebra_weak_get(t_, h_)) : nullptr;
  }
  /** Returns a strong reference, or an empty one if the object died
   * (ebra_weak_upgrade).  Any context; lock-free. */
  strong<T> lock() const noexcept {
    void *p = nullptr;
    if (h_ && ebra_weak_upgrade(t_, h_, &p) == 0)
      return strong<T>(t_, h_, static_cast<T *>(p));
    return strong<T>();
  }
  /** Returns the handle. */
  ebra_weak_t handle() const noexcept { return h_; }

private:
  ebra_weak_table_t *t_ = nullptr;
  ebra_weak_t h_ = EBRA_WEAK_NONE;
};

template <class T>
template <class... A>
strong<T> weak_table<T>::make(pool<T> &p, A &&...args) {
  T *obj = p.make(std::forward<A>(args)...);
  ebra_weak_t h = EBRA_WEAK_NONE;
  int rc = ebra_weak_create(t_, obj, &h);
  if (rc != 0) {
    p.destroy(obj);
    if (rc == -ENOMEM)
      detail::throw_bad_alloc();
    detail::throw_errno(rc, "ebra_weak_create");
  }
  rc = ebra_weak_add_cleanup(t_, h, &destroy_dead, obj);
  if (rc != 0) { /* -ENOMEM: kill it; its memory returns without ~T */
    obj->~T();
    ebra_weak_kill(t_, h);
    detail::throw_bad_alloc();
  }
  return strong<T>(t_, h, obj);
}

} // namespace ebra

#undef EBRA_HPP_FAST

#endif /* EBRA_EBRA_HPP */
