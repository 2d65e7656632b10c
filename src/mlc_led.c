#include "mlc_led.h"
#include "mlc_alloc.h"
#include "mlc_err.h"
#include "mlc_sysfs.h"

#include <stdio.h>
#include <string.h>

/* The trigger attribute lists every trigger the kernel has (one per MMC host, CPU, netdev...);
 * a page is the classic sysfs limit, twice that leaves room for kernels that lifted it. */
#define TRIGGER_LIST_MAX 8192
#define TRIGGER_NAME_MAX 64
#define VALUE_MAX 24

/* What one LED shows; writes happen only when this changes. */
enum shown {
    SHOWN_ORIGINAL = 0, SHOWN_ON, SHOWN_OFF, SHOWN_SLOW, SHOWN_FAST, SHOWN_HEARTBEAT,
    SHOWN_UNKNOWN /* a write failed: the next set writes again */
};

struct led_unit {
    int present;
    char dir[MLC_SYSFS_PATH_MAX];      /* absolute path below the root */
    int has_timer, has_heartbeat;
    char max_brightness[VALUE_MAX];
    /* saved at open */
    char trigger[TRIGGER_NAME_MAX];
    char brightness[VALUE_MAX];
    char delay_on[VALUE_MAX], delay_off[VALUE_MAX];
    enum shown shown;
    int delays_pending;                /* timer set, its delays not yet written */
};

struct mlc_led {
    char root[MLC_SYSFS_PATH_MAX];
    int active_low;
    enum mlc_led_pattern pattern;
    struct led_unit unit[MLC_BOARD_LEDS];
};

/* ---- trigger list ---- */

int mlc_led_current_trigger(const char *list, char *out, size_t cap)
{
    const char *open = strchr(list, '[');
    const char *close = open ? strchr(open + 1, ']') : NULL;
    if (!close || cap == 0)
        return MLC_ERR_DATA;
    size_t n = (size_t)(close - open - 1);
    if (n == 0 || n >= cap)
        return MLC_ERR_DATA;
    memcpy(out, open + 1, n);
    out[n] = '\0';
    return MLC_OK;
}

int mlc_led_has_trigger(const char *list, const char *word)
{
    size_t wl = strlen(word);
    const char *p = list;
    while (*p) {
        p += strspn(p, " \t\n[]");
        size_t n = strcspn(p, " \t\n[]");
        if (n == 0)
            break;
        if (n == wl && memcmp(p, word, n) == 0)
            return 1;
        p += n;
    }
    return 0;
}

/* ---- attribute helpers ---- */

static int attr_path(char *out, size_t cap, const struct led_unit *u, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", u->dir, name);
    return n < 0 || (size_t)n >= cap ? MLC_ERR_TOO_BIG : MLC_OK;
}

static int attr_read(const struct mlc_led *led, const struct led_unit *u, const char *name,
                     char *out, size_t cap)
{
    char p[MLC_SYSFS_PATH_MAX];
    int rc = attr_path(p, sizeof(p), u, name);
    return rc == MLC_OK ? mlc_sysfs_read(led->root, p, out, cap) : rc;
}

static int attr_write(const struct mlc_led *led, const struct led_unit *u, const char *name,
                      const char *value)
{
    char p[MLC_SYSFS_PATH_MAX];
    int rc = attr_path(p, sizeof(p), u, name);
    return rc == MLC_OK ? mlc_sysfs_write(led->root, p, value) : rc;
}

static int attr_writable(const struct mlc_led *led, const struct led_unit *u, const char *name)
{
    char p[MLC_SYSFS_PATH_MAX];
    return attr_path(p, sizeof(p), u, name) == MLC_OK && mlc_sysfs_writable(led->root, p);
}

/* ---- showing ---- */

static int write_delays(const struct mlc_led *led, struct led_unit *u, int on_ms, int off_ms)
{
    char on[VALUE_MAX], off[VALUE_MAX];
    /* on an active-low LED the kernel's "on" phase is dark: swap, so the lit time is on_ms */
    snprintf(on, sizeof(on), "%d", led->active_low ? off_ms : on_ms);
    snprintf(off, sizeof(off), "%d", led->active_low ? on_ms : off_ms);
    int rc = attr_write(led, u, "delay_on", on);
    if (rc == MLC_OK)
        rc = attr_write(led, u, "delay_off", off);
    if (rc == MLC_ERR_NOTFOUND || rc == MLC_ERR_PERM) {
        /* the kernel blinks at its default 500/500 meanwhile; mlc_led_set retries */
        u->delays_pending = 1;
        return MLC_OK;
    }
    u->delays_pending = rc != MLC_OK;
    return rc;
}

static int blink_ms(enum shown s)
{
    return s == SHOWN_FAST ? MLC_LED_FAST_MS : MLC_LED_SLOW_MS;
}

static int show_steady(const struct mlc_led *led, struct led_unit *u, int lit)
{
    /* "none" first: the kernel turns the LED off when a trigger is removed, and writing brightness
     * 0 while a trigger runs would remove the trigger behind our back */
    int rc = attr_write(led, u, "trigger", "none");
    if (rc == MLC_OK)
        rc = attr_write(led, u, "brightness", lit != led->active_low ? u->max_brightness : "0");
    return rc;
}

static int restore_unit(const struct mlc_led *led, struct led_unit *u)
{
    int rc = attr_write(led, u, "trigger", u->trigger);
    if (rc == MLC_OK && strcmp(u->trigger, "none") == 0 && u->brightness[0])
        rc = attr_write(led, u, "brightness", u->brightness);
    if (rc == MLC_OK && strcmp(u->trigger, "timer") == 0 && u->delay_on[0] && u->delay_off[0]) {
        rc = attr_write(led, u, "delay_on", u->delay_on);
        if (rc == MLC_OK)
            rc = attr_write(led, u, "delay_off", u->delay_off);
    }
    return rc;
}

static int show(struct mlc_led *led, struct led_unit *u, enum shown want)
{
    if (!u->present)
        return MLC_OK;
    /* without the timer trigger (a kernel built without ledtrig-timer), a blink becomes steady
     * light, or the heartbeat for "needs a person" so it still differs from healthy */
    if ((want == SHOWN_SLOW || want == SHOWN_FAST) && !u->has_timer)
        want = want == SHOWN_FAST && u->has_heartbeat ? SHOWN_HEARTBEAT : SHOWN_ON;
    if (want == u->shown) {
        if ((want == SHOWN_SLOW || want == SHOWN_FAST) && u->delays_pending)
            return write_delays(led, u, blink_ms(want), blink_ms(want));
        return MLC_OK;
    }
    int rc;
    switch (want) {
    case SHOWN_ORIGINAL:
        rc = restore_unit(led, u);
        break;
    case SHOWN_ON:
    case SHOWN_OFF:
        rc = show_steady(led, u, want == SHOWN_ON);
        break;
    case SHOWN_HEARTBEAT:
        rc = attr_write(led, u, "trigger", "heartbeat");
        break;
    default:
        /* slow <-> fast keeps the trigger and changes only the delays */
        rc = u->shown == SHOWN_SLOW || u->shown == SHOWN_FAST ? MLC_OK
                                                              : attr_write(led, u, "trigger", "timer");
        if (rc == MLC_OK)
            rc = write_delays(led, u, blink_ms(want), blink_ms(want));
        break;
    }
    u->shown = rc == MLC_OK ? want : SHOWN_UNKNOWN;
    return rc;
}

int mlc_led_set(struct mlc_led *led, enum mlc_led_pattern pattern)
{
    if (!led)
        return MLC_OK;
    static const enum shown status_for[MLC_LED__COUNT] = {
        [MLC_LED_OFF] = SHOWN_OFF, [MLC_LED_HEALTHY] = SHOWN_ON,
        [MLC_LED_SYNCING] = SHOWN_SLOW, [MLC_LED_ATTENTION] = SHOWN_FAST,
    };
    if ((int)pattern < 0 || pattern >= MLC_LED__COUNT)
        return MLC_ERR_INTERNAL;
    int rc = show(led, &led->unit[MLC_BOARD_LED_STATUS], status_for[pattern]);
    /* the attention LED (the Pi's red power LED) keeps its usual job unless a person is needed */
    int rc2 = show(led, &led->unit[MLC_BOARD_LED_ATTENTION],
                   pattern == MLC_LED_ATTENTION ? SHOWN_FAST : SHOWN_ORIGINAL);
    led->pattern = pattern;
    return rc != MLC_OK ? rc : rc2;
}

enum mlc_led_pattern mlc_led_pattern(const struct mlc_led *led)
{
    return led ? led->pattern : MLC_LED_OFF;
}

const char *mlc_led_path(const struct mlc_led *led, enum mlc_board_led_role role)
{
    if (!led || (int)role < 0 || role >= MLC_BOARD_LEDS || !led->unit[role].present)
        return "";
    return led->unit[role].dir;
}

int mlc_led_restore(struct mlc_led *led)
{
    int first = MLC_OK;
    for (int r = 0; led && r < MLC_BOARD_LEDS; r++) {
        struct led_unit *u = &led->unit[r];
        if (!u->present || u->shown == SHOWN_ORIGINAL)
            continue;
        int rc = restore_unit(led, u);
        u->shown = rc == MLC_OK ? SHOWN_ORIGINAL : SHOWN_UNKNOWN;
        if (rc != MLC_OK && first == MLC_OK)
            first = rc;
    }
    if (led)
        led->pattern = MLC_LED_OFF;
    return first;
}

void mlc_led_close(struct mlc_led *led)
{
    if (!led)
        return;
    mlc_led_restore(led);
    mlc_free(led);
}

/* ---- opening ---- */

static int save_unit(struct mlc_led *led, struct led_unit *u, char *list, char *err, size_t errcap)
{
    int rc = attr_read(led, u, "trigger", list, TRIGGER_LIST_MAX);
    if (rc == MLC_OK)
        rc = mlc_led_current_trigger(list, u->trigger, sizeof(u->trigger));
    if (rc != MLC_OK) {
        snprintf(err, errcap, "the LED %s has no readable trigger file (%s); check that it is a "
                 "directory under /sys/class/leds", u->dir, mlc_err_str(rc));
        return rc;
    }
    u->has_timer = mlc_led_has_trigger(list, "timer");
    u->has_heartbeat = mlc_led_has_trigger(list, "heartbeat");
    rc = attr_read(led, u, "brightness", u->brightness, sizeof(u->brightness));
    if (rc == MLC_OK && attr_read(led, u, "max_brightness", u->max_brightness,
                                  sizeof(u->max_brightness)) != MLC_OK)
        snprintf(u->max_brightness, sizeof(u->max_brightness), "1");
    if (rc != MLC_OK) {
        snprintf(err, errcap, "the LED %s has no readable brightness file (%s)", u->dir,
                 mlc_err_str(rc));
        return rc;
    }
    if (strcmp(u->trigger, "timer") == 0 &&
        (attr_read(led, u, "delay_on", u->delay_on, sizeof(u->delay_on)) != MLC_OK ||
         attr_read(led, u, "delay_off", u->delay_off, sizeof(u->delay_off)) != MLC_OK))
        u->delay_on[0] = u->delay_off[0] = '\0'; /* restore the timer at its default rate */
    if (!attr_writable(led, u, "trigger") || !attr_writable(led, u, "brightness")) {
        snprintf(err, errcap, "the agent may not write to the LED %s; install the package's udev "
                 "rule (60-mlc-leds.rules) and restart, or set [board] profile = none", u->dir);
        return MLC_ERR_PERM;
    }
    u->present = 1;
    return MLC_OK;
}

int mlc_led_open(struct mlc_led **out, const struct mlc_board *board, const char *root,
                 char *err, size_t errcap)
{
    char scratch[1];
    char *list = NULL;
    struct mlc_led *led = NULL;
    int rc;
    if (!err || errcap == 0) {
        err = scratch;
        errcap = sizeof(scratch);
    }
    err[0] = '\0';
    *out = NULL;
    const struct mlc_board_profile *p = board && board->profile ? board->profile
                                                                : mlc_board_profile_get(MLC_BOARD_NONE);
    led = mlc_calloc(1, sizeof(*led));
    list = mlc_malloc(TRIGGER_LIST_MAX);
    if (!led || !list) {
        snprintf(err, errcap, "out of memory while opening the LEDs");
        rc = MLC_ERR_NOMEM;
        goto out;
    }
    if (root && strlen(root) >= sizeof(led->root)) {
        snprintf(err, errcap, "the LED root directory path is too long");
        rc = MLC_ERR_TOO_BIG;
        goto out;
    }
    snprintf(led->root, sizeof(led->root), "%s", root ? root : "");
    led->active_low = board ? board->active_low : 0;
    led->pattern = MLC_LED_OFF;
    for (int r = 0; r < MLC_BOARD_LEDS; r++) {
        const char *cand[MLC_BOARD_LED_CANDIDATES + 1] = { NULL };
        if (board && board->led[r][0])
            cand[0] = board->led[r];
        else
            memcpy(cand, p->led[r], sizeof(p->led[r]));
        if (!cand[0]) {
            if (r == MLC_BOARD_LED_STATUS) {
                snprintf(err, errcap, "the board profile '%s' has no LEDs; set [board] profile and "
                         "led_status to use one", p->name);
                rc = MLC_ERR_CONFIG;
                goto out;
            }
            continue;
        }
        struct led_unit *u = &led->unit[r];
        const char *found = NULL;
        for (int i = 0; !found && i < MLC_BOARD_LED_CANDIDATES && cand[i]; i++) {
            if (p->leds_create && (rc = mlc_sysfs_make_fake_led(led->root, cand[i])) != MLC_OK) {
                snprintf(err, errcap, "could not create the LED files in %s: %s", cand[i],
                         mlc_err_str(rc));
                goto out;
            }
            if (mlc_sysfs_exists(led->root, cand[i]))
                found = cand[i];
        }
        if (!found) {
            if (r != MLC_BOARD_LED_STATUS)
                continue; /* the attention LED is a bonus */
            snprintf(err, errcap, "no status LED found at %s%s%s; set [board] led_status to the "
                     "LED's directory under /sys/class/leds", cand[0], cand[1] ? " or " : "",
                     cand[1] ? cand[1] : "");
            rc = MLC_ERR_NOTFOUND;
            goto out;
        }
        if (strlen(found) >= sizeof(u->dir)) {
            snprintf(err, errcap, "the LED path %.80s... is too long", found);
            rc = MLC_ERR_TOO_BIG;
            goto out;
        }
        memcpy(u->dir, found, strlen(found) + 1);
        rc = save_unit(led, u, list, err, errcap);
        if (rc != MLC_OK && r != MLC_BOARD_LED_STATUS) {
            /* an attention LED we cannot drive is left alone; the status LED still works */
            memset(u, 0, sizeof(*u));
            err[0] = '\0';
            continue;
        }
        if (rc != MLC_OK)
            goto out;
    }
    *out = led;
    led = NULL;
    rc = MLC_OK;
out:
    mlc_free(list);
    mlc_free(led); /* nothing written yet: no state to restore */
    return rc;
}
