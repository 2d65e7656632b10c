#include "mlc_alloc.h"
#include "mlc_err.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(MBEDTLS_CONFIG_FILE)
#include MBEDTLS_CONFIG_FILE
#else
#include <mbedtls/config.h>
#endif
#if defined(MBEDTLS_PLATFORM_MEMORY)
#include <mbedtls/platform.h>
#endif

/* Each block carries its size in a header padded to max_align_t, so frees can be counted.
 * Counters are atomic: libcurl's threaded resolver allocates from its own thread. */
#define HDR_SIZE ((sizeof(size_t) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * _Alignof(max_align_t))

static atomic_size_t cur_bytes;
static atomic_size_t peak_bytes;
static atomic_size_t budget_bytes;
static atomic_ulong refused;
static atomic_long fail_countdown;

static int reserve(size_t n)
{
    long fc = atomic_load(&fail_countdown);
    if (fc > 0 && atomic_fetch_sub(&fail_countdown, 1) == 1) {
        atomic_fetch_add(&refused, 1);
        return -1;
    }
    size_t now = atomic_fetch_add(&cur_bytes, n) + n;
    size_t budget = atomic_load(&budget_bytes);
    if (budget && now > budget) {
        atomic_fetch_sub(&cur_bytes, n);
        atomic_fetch_add(&refused, 1);
        return -1;
    }
    size_t peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now))
        ;
    return 0;
}

void *mlc_malloc(size_t n)
{
    if (n > SIZE_MAX - HDR_SIZE || reserve(n) != 0)
        return NULL;
    unsigned char *p = malloc(HDR_SIZE + n);
    if (!p) {
        atomic_fetch_sub(&cur_bytes, n);
        return NULL;
    }
    memcpy(p, &n, sizeof(n));
    return p + HDR_SIZE;
}

void *mlc_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = mlc_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void mlc_free(void *p)
{
    if (!p)
        return;
    unsigned char *base = (unsigned char *)p - HDR_SIZE;
    size_t n;
    memcpy(&n, base, sizeof(n));
    atomic_fetch_sub(&cur_bytes, n);
    free(base);
}

void *mlc_realloc(void *p, size_t n)
{
    if (!p)
        return mlc_malloc(n);
    if (n == 0) {
        mlc_free(p);
        return NULL;
    }
    unsigned char *base = (unsigned char *)p - HDR_SIZE;
    size_t old;
    memcpy(&old, base, sizeof(old));
    if (n > old && reserve(n - old) != 0)
        return NULL;
    if (n > SIZE_MAX - HDR_SIZE)
        return NULL;
    unsigned char *nb = realloc(base, HDR_SIZE + n);
    if (!nb) {
        if (n > old)
            atomic_fetch_sub(&cur_bytes, n - old);
        return NULL;
    }
    if (n < old)
        atomic_fetch_sub(&cur_bytes, old - n);
    memcpy(nb, &n, sizeof(n));
    return nb + HDR_SIZE;
}

char *mlc_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = mlc_malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

char *mlc_strdup(const char *s)
{
    return s ? mlc_strndup(s, SIZE_MAX) : NULL;
}

size_t mlc_alloc_current(void) { return atomic_load(&cur_bytes); }
size_t mlc_alloc_peak(void) { return atomic_load(&peak_bytes); }
void mlc_alloc_reset_peak(void) { atomic_store(&peak_bytes, atomic_load(&cur_bytes)); }
unsigned long mlc_alloc_failures(void) { return atomic_load(&refused); }
void mlc_alloc_set_budget(size_t bytes) { atomic_store(&budget_bytes, bytes); }
size_t mlc_alloc_budget(void) { return atomic_load(&budget_bytes); }
void mlc_alloc_fail_after(long n) { atomic_store(&fail_countdown, n > 0 ? n : 0); }

int mlc_alloc_install_hooks(void)
{
    static int installed;
    if (installed)
        return MLC_OK;
    cJSON_Hooks hooks = { .malloc_fn = mlc_malloc, .free_fn = mlc_free };
    cJSON_InitHooks(&hooks);
    if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, mlc_malloc, mlc_free, mlc_realloc,
                             mlc_strdup, mlc_calloc) != CURLE_OK)
        return MLC_ERR_NOMEM;
#if defined(MBEDTLS_PLATFORM_MEMORY)
    mbedtls_platform_set_calloc_free(mlc_calloc, mlc_free);
#endif
    installed = 1;
    return MLC_OK;
}
