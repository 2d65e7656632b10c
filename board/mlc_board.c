#include "mlc_board.h"
#include "mlc_alloc.h"
#include "mlc_config.h"
#include "mlc_err.h"

#include <stdio.h>
#include <string.h>

#define MIB ((size_t)1024 * 1024)

/* Budgets are for the agent's heap only (LMDB's map is file-backed and not counted). 8 MiB on a Pi
 * leaves most of a Zero 2 W's 512 MB to the OS and page cache, and holds several 500-transaction
 * Plaid pages at once; [http] max_response above the budget just fails that request cleanly. */
static const struct mlc_board_profile profiles[MLC_BOARD__COUNT] = {
    [MLC_BOARD_NONE] = {
        .kind = MLC_BOARD_NONE, .name = "none",
        .description = "no LEDs and no default memory limit (a server, VM or container)",
        .heap_budget = 0,
    },
    [MLC_BOARD_RASPBERRY_PI] = {
        .kind = MLC_BOARD_RASPBERRY_PI, .name = "raspberry-pi",
        .description = "Raspberry Pi: green ACT LED shows the state, red PWR LED blinks when a "
                       "person is needed; 8 MiB heap",
        /* Kernels from 6.1 (Raspberry Pi OS bookworm) name them ACT and PWR; older ones led0
         * (green, activity) and led1 (red, power). */
        .led = { [MLC_BOARD_LED_STATUS] = { "/sys/class/leds/ACT", "/sys/class/leds/led0", NULL },
                 [MLC_BOARD_LED_ATTENTION] = { "/sys/class/leds/PWR", "/sys/class/leds/led1", NULL } },
        /* The device tree marks the Zero's active-low ACT LED, so the kernel inverts already;
         * led_active_low in the config covers an image whose tree does not. */
        .active_low = 0,
        .heap_budget = 8 * MIB,
    },
    [MLC_BOARD_GATEWAY] = {
        .kind = MLC_BOARD_GATEWAY, .name = "gateway",
        .description = "generic gateway: LED paths from [board] led_status/led_attention; 16 MiB heap",
        .leds_from_config = 1,
        .heap_budget = 16 * MIB,
    },
    [MLC_BOARD_HOST] = {
        .kind = MLC_BOARD_HOST, .name = "host",
        .description = "development or test machine: LEDs are plain files the agent creates at "
                       "[board] led_status; no memory limit",
        .leds_from_config = 1,
        .leds_create = 1,
        .heap_budget = 0,
    },
};

const struct mlc_board_profile *mlc_board_profile_get(enum mlc_board_kind kind)
{
    if ((int)kind < 0 || kind >= MLC_BOARD__COUNT)
        kind = MLC_BOARD_NONE;
    return &profiles[kind];
}

const struct mlc_board_profile *mlc_board_profile_find(const char *name)
{
    for (size_t i = 0; name && i < MLC_BOARD__COUNT; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const struct mlc_board_profile *mlc_board_profiles(size_t *count)
{
    if (count)
        *count = MLC_BOARD__COUNT;
    return profiles;
}

size_t mlc_board_heap_budget(const struct mlc_board_profile *p)
{
    return p ? p->heap_budget : 0;
}

size_t mlc_board_budget_for(const struct mlc_board_profile *p, uint64_t configured)
{
    if (configured) {
        /* on a 32-bit board a budget past the address space means "no practical limit" */
        return configured > (uint64_t)SIZE_MAX ? SIZE_MAX : (size_t)configured;
    }
    return mlc_board_heap_budget(p);
}

size_t mlc_board_apply_budget(const struct mlc_board_profile *p, uint64_t configured)
{
    size_t budget = mlc_board_budget_for(p, configured);
    mlc_alloc_set_budget(budget);
    return budget;
}

static int copy_led(char *dst, const char *src, const char *key, char *err, size_t errcap)
{
    size_t n = strlen(src);
    if (src[0] != '/' || n >= MLC_BOARD_PATH_MAX) {
        snprintf(err, errcap, "[board] %s must be an absolute path of at most %d characters, "
                 "such as /sys/class/leds/status", key, MLC_BOARD_PATH_MAX - 1);
        return MLC_ERR_CONFIG;
    }
    memcpy(dst, src, n + 1);
    return MLC_OK;
}

int mlc_board_resolve(struct mlc_board *b, enum mlc_board_kind kind, const char *led_status,
                      const char *led_attention, int active_low, char *err, size_t errcap)
{
    char scratch[1];
    if (!err || errcap == 0) {
        err = scratch;
        errcap = sizeof(scratch);
    }
    err[0] = '\0';
    memset(b, 0, sizeof(*b));
    b->profile = mlc_board_profile_get(kind);
    b->active_low = active_low < 0 ? b->profile->active_low : !!active_low;
    const char *given[MLC_BOARD_LEDS] = { led_status, led_attention };
    static const char *const keys[MLC_BOARD_LEDS] = { "led_status", "led_attention" };
    for (int r = 0; r < MLC_BOARD_LEDS; r++) {
        if (given[r] && given[r][0]) {
            int rc = copy_led(b->led[r], given[r], keys[r], err, errcap);
            if (rc != MLC_OK)
                return rc;
        }
    }
    if (b->profile->leds_from_config && !b->led[MLC_BOARD_LED_STATUS][0]) {
        snprintf(err, errcap, "[board] profile = %s needs [board] led_status, the LED's directory "
                 "(for example /sys/class/leds/status); set it or use profile = none",
                 b->profile->name);
        return MLC_ERR_CONFIG;
    }
    return MLC_OK;
}

int mlc_board_from_config(struct mlc_board *b, const struct mlc_config *cfg, char *err, size_t errcap)
{
    return mlc_board_resolve(b, (enum mlc_board_kind)cfg->board.profile, cfg->board.led_status,
                             cfg->board.led_attention, cfg->board.led_active_low, err, errcap);
}
