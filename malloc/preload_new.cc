// SPDX-License-Identifier: MIT
// malloc/preload_new.cc — every C++ operator new and delete of
// libebra-malloc.so: plain, array, nothrow, sized, aligned, and their
// combinations.  New follows the standard: on failure it calls the
// new-handler while one is installed and retries, then throws
// std::bad_alloc (the nothrow forms return nullptr instead).  The sized
// deletes check the size against the block (a mismatch is reported).
#include <cstddef>
#include <new>

#define EBI_OVERRIDE __attribute__((visibility("default")))

extern "C" {
__attribute__((visibility("hidden"))) void *ebi_cxx_alloc(std::size_t n, std::size_t alignment);
__attribute__((visibility("hidden"))) void ebi_cxx_free(void *p);
__attribute__((visibility("hidden"))) void ebi_cxx_free_sized(void *p, std::size_t n);
}

namespace {

void *alloc_or_throw(std::size_t n, std::size_t alignment) {
  for (;;) {
    if (void *p = ebi_cxx_alloc(n, alignment))
      return p;
    std::new_handler h = std::get_new_handler();
    if (!h)
      throw std::bad_alloc();
    h();
  }
}

void *alloc_or_null(std::size_t n, std::size_t alignment) noexcept {
  try {
    return alloc_or_throw(n, alignment);
  } catch (...) {
    return nullptr;
  }
}

constexpr std::size_t kDefault = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

} // namespace

EBI_OVERRIDE void *operator new(std::size_t n) { return alloc_or_throw(n, kDefault); }
EBI_OVERRIDE void *operator new[](std::size_t n) { return alloc_or_throw(n, kDefault); }
EBI_OVERRIDE void *operator new(std::size_t n, const std::nothrow_t &) noexcept {
  return alloc_or_null(n, kDefault);
}
EBI_OVERRIDE void *operator new[](std::size_t n, const std::nothrow_t &) noexcept {
  return alloc_or_null(n, kDefault);
}
EBI_OVERRIDE void *operator new(std::size_t n, std::align_val_t a) {
  return alloc_or_throw(n, static_cast<std::size_t>(a));
}
EBI_OVERRIDE void *operator new[](std::size_t n, std::align_val_t a) {
  return alloc_or_throw(n, static_cast<std::size_t>(a));
}
EBI_OVERRIDE void *operator new(std::size_t n, std::align_val_t a,
                                const std::nothrow_t &) noexcept {
  return alloc_or_null(n, static_cast<std::size_t>(a));
}
EBI_OVERRIDE void *operator new[](std::size_t n, std::align_val_t a,
                                  const std::nothrow_t &) noexcept {
  return alloc_or_null(n, static_cast<std::size_t>(a));
}

EBI_OVERRIDE void operator delete(void *p) noexcept { ebi_cxx_free(p); }
EBI_OVERRIDE void operator delete[](void *p) noexcept { ebi_cxx_free(p); }
EBI_OVERRIDE void operator delete(void *p, const std::nothrow_t &) noexcept { ebi_cxx_free(p); }
EBI_OVERRIDE void operator delete[](void *p, const std::nothrow_t &) noexcept {
  ebi_cxx_free(p);
}
EBI_OVERRIDE void operator delete(void *p, std::size_t n) noexcept { ebi_cxx_free_sized(p, n); }
EBI_OVERRIDE void operator delete[](void *p, std::size_t n) noexcept {
  ebi_cxx_free_sized(p, n);
}
EBI_OVERRIDE void operator delete(void *p, std::align_val_t) noexcept { ebi_cxx_free(p); }
EBI_OVERRIDE void operator delete[](void *p, std::align_val_t) noexcept { ebi_cxx_free(p); }
EBI_OVERRIDE void operator delete(void *p, std::size_t n, std::align_val_t) noexcept {
  ebi_cxx_free_sized(p, n);
}
EBI_OVERRIDE void operator delete[](void *p, std::size_t n, std::align_val_t) noexcept {
  ebi_cxx_free_sized(p, n);
}
EBI_OVERRIDE void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept {
  ebi_cxx_free(p);
}
EBI_OVERRIDE void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept {
  ebi_cxx_free(p);
}
