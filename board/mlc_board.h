/* Board profiles: per-device facts the agent cannot ask the device for — which sysfs LEDs to use,
 * whether they are wired active-low, and how much heap the agent may take by default. One table,
 * in mlc_board.c. Pure data and lookups: opens no file (mlc_led does the I/O). */
#ifndef MLC_BOARD_H
#define MLC_BOARD_H
#include <stddef.h>
#include <stdint.h>

#define MLC_BOARD_LED_CANDIDATES 3 /* names tried in order, e.g. "ACT" then "led0" */
#define MLC_BOARD_PATH_MAX 256

enum mlc_board_kind {
    MLC_BOARD_NONE = 0,       /* no LEDs, no default budget: a server or a container */
    MLC_BOARD_RASPBERRY_PI,   /* Raspberry Pi (Zero 2 W up): ACT/PWR, or led0/led1 on older kernels */
    MLC_BOARD_GATEWAY,        /* a generic ARM gateway: LED paths come from the config */
    MLC_BOARD_HOST,           /* a developer machine or a test: the "LEDs" are a directory of files */
    MLC_BOARD__COUNT
};

/* Roles, not colours: the status LED shows the agent's state; the attention LED (if the board has
 * a second one, e.g. the Pi's red PWR) joins in only when a person is needed. */
enum mlc_board_led_role { MLC_BOARD_LED_STATUS = 0, MLC_BOARD_LED_ATTENTION = 1, MLC_BOARD_LEDS };

struct mlc_board_profile {
    enum mlc_board_kind kind;
    const char *name;         /* as written in [board] profile */
    const char *description;  /* one line for an installer */
    /* sysfs LED directories per role, tried in order; NULL ends the list (none = no such LED) */
    const char *led[MLC_BOARD_LEDS][MLC_BOARD_LED_CANDIDATES];
    int active_low;           /* brightness 0 lights the LED (wiring the kernel does not invert) */
    int leds_from_config;     /* 1: the profile has no fixed paths; [board] led_status must be set */
    int leds_create;          /* 1: plain files the agent may create (host profile) */
    size_t heap_budget;       /* default [agent] memory_budget in bytes; 0 = no limit */
};

/* A profile with the config's overrides applied: what mlc_led_open works from. */
struct mlc_board {
    const struct mlc_board_profile *profile;
    char led[MLC_BOARD_LEDS][MLC_BOARD_PATH_MAX]; /* "" = use the profile's candidates */
    int active_low;
};

/* The profile of a kind (MLC_BOARD_NONE's for an unknown kind). Never NULL. */
const struct mlc_board_profile *mlc_board_profile_get(enum mlc_board_kind kind);
/* The profile named name ("raspberry-pi", case-sensitive), or NULL. */
const struct mlc_board_profile *mlc_board_profile_find(const char *name);
/* The table, for the manual page, tests and `mlc version`. */
const struct mlc_board_profile *mlc_board_profiles(size_t *count);

/* The default heap budget of a profile in bytes (0 = no limit); NULL = MLC_BOARD_NONE. */
size_t mlc_board_heap_budget(const struct mlc_board_profile *p);
/* The budget to run with: the configured [agent] memory_budget when it is set (not 0), else the
 * profile's default. */
size_t mlc_board_budget_for(const struct mlc_board_profile *p, uint64_t configured);
/* Applies mlc_board_budget_for to the counting allocator (mlc_alloc_set_budget) and returns the
 * budget now in effect. The app calls it once at start, after loading the config. */
size_t mlc_board_apply_budget(const struct mlc_board_profile *p, uint64_t configured);

/* Resolves kind plus the config's [board] led_status / led_attention (NULL or "" = the profile's)
 * and led_active_low (-1 = the profile's) into b. MLC_ERR_CONFIG with one line in err when the
 * profile needs a path the config does not give (gateway without led_status) or a path is not
 * absolute; MLC_OK otherwise. */
int mlc_board_resolve(struct mlc_board *b, enum mlc_board_kind kind, const char *led_status,
                      const char *led_attention, int active_low, char *err, size_t errcap);

/* mlc_board_resolve from a loaded config's [board] section. At start the app calls this, then
 * mlc_board_apply_budget(b->profile, cfg->agent.memory_budget), then mlc_led_open(b, NULL, ...). */
struct mlc_config;
int mlc_board_from_config(struct mlc_board *b, const struct mlc_config *cfg, char *err, size_t errcap);
#endif
