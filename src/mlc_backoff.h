/* Full-jitter exponential backoff as a pure function: the caller supplies the random value, so
 * retries are deterministic in tests. Owns no timer and no state; the caller counts attempts. */
#ifndef MLC_BACKOFF_H
#define MLC_BACKOFF_H
#include <stdint.h>

/* The ceiling for an attempt: min(cap_ms, base_ms * 2^attempt), without overflow. */
uint32_t mlc_backoff_ceiling_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms);
/* The delay before retry number attempt (0 = first retry): rnd mod (ceiling + 1), so every value
 * from 0 to the ceiling is possible ("full jitter", AWS architecture blog / FreeRTOS
 * backoffAlgorithm). Spreads retries of many agents instead of synchronising them. */
uint32_t mlc_backoff_delay_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms, uint32_t rnd);
#endif
