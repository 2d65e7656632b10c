/* The one counting allocator. Every allocation of the agent, cJSON and libcurl goes through here,
 * so the status page can show current and peak heap, and an optional budget makes an allocation
 * that would exceed it fail cleanly (NULL, then MLC_ERR_NOMEM) instead of growing without bound.
 * mbedTLS is hooked only when its build has MBEDTLS_PLATFORM_MEMORY (the static build does). */
#ifndef MLC_ALLOC_H
#define MLC_ALLOC_H
#include <stddef.h>

void *mlc_malloc(size_t n);
void *mlc_calloc(size_t count, size_t size);
void *mlc_realloc(void *p, size_t n);
void mlc_free(void *p);
char *mlc_strdup(const char *s);
char *mlc_strndup(const char *s, size_t n);

size_t mlc_alloc_current(void);   /* bytes in use now (payload only) */
size_t mlc_alloc_peak(void);      /* high-water mark since start or the last reset */
void mlc_alloc_reset_peak(void);
unsigned long mlc_alloc_failures(void); /* allocations refused by the budget so far */

/* 0 = no budget. Allocations that would take current above the budget return NULL. */
void mlc_alloc_set_budget(size_t bytes);
size_t mlc_alloc_budget(void);

/* Tests: make the Nth allocation from now fail (1 = the next one); 0 turns it off. */
void mlc_alloc_fail_after(long n);

/* Routes cJSON, libcurl (and mbedTLS where possible) through this allocator. Call once, before
 * any other use of those libraries. Returns 0 or a negative mlc_err. */
int mlc_alloc_install_hooks(void);
#endif
