#include "mlc_backoff.h"

uint32_t mlc_backoff_ceiling_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms)
{
    /* base * 2^attempt > cap  <=>  base > cap >> attempt (for attempt < 32); shifting the cap
     * down instead of the base up cannot overflow. */
    if (attempt >= 32 || base_ms > (cap_ms >> attempt))
        return cap_ms;
    return base_ms << attempt;
}

uint32_t mlc_backoff_delay_ms(unsigned attempt, uint32_t base_ms, uint32_t cap_ms, uint32_t rnd)
{
    uint64_t span = (uint64_t)mlc_backoff_ceiling_ms(attempt, base_ms, cap_ms) + 1; /* may be 2^32 */
    return (uint32_t)((uint64_t)rnd % span);
}
