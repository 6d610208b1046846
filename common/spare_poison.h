/*
 * spare_poison: marks memory kept in a free list (a pool of spares) as
 * unaddressable under AddressSanitizer, so a use after "free" into a pool is
 * still reported; nothing in other builds.
 */
#pragma once

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) /* GCC */
#define SPARE_POISON_ASAN 1
#elif defined(__has_feature) /* clang */
#if __has_feature(address_sanitizer)
#define SPARE_POISON_ASAN 1
#endif
#endif

#ifdef SPARE_POISON_ASAN
#include <sanitizer/asan_interface.h>
#define SPARE_POISON(p, size)   ASAN_POISON_MEMORY_REGION((p), (size))
#define SPARE_UNPOISON(p, size) ASAN_UNPOISON_MEMORY_REGION((p), (size))
#else
#define SPARE_POISON(p, size)   ((void)(p), (void)(size))
#define SPARE_UNPOISON(p, size) ((void)(p), (void)(size))
#endif
