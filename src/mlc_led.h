/* The board's LEDs as a status light a person can read from across the room: steady = healthy,
 * slow blink = syncing, fast blink = a person is needed, off = the agent is stopped. Blinking uses
 * the kernel's `timer` trigger, so the agent never wakes up to toggle an LED. What the LEDs showed
 * before (trigger, brightness, blink delays) is saved at open and put back at close.
 * Owns the LED attribute files while open; all file access goes through mlc_sysfs. */
#ifndef MLC_LED_H
#define MLC_LED_H
#include "mlc_board.h"
#include <stddef.h>

enum mlc_led_pattern {
    MLC_LED_OFF = 0,      /* the agent is stopped */
    MLC_LED_HEALTHY,      /* steady on */
    MLC_LED_SYNCING,      /* slow blink, 1 s on / 1 s off */
    MLC_LED_ATTENTION,    /* fast blink, 0.1 s / 0.1 s, on the attention LED too */
    MLC_LED__COUNT
};

#define MLC_LED_SLOW_MS 1000
#define MLC_LED_FAST_MS 100

struct mlc_led;

/* Opens the board's LEDs below root (NULL or "" = the real /; tests pass a fake tree). For each
 * role the first candidate path that exists is used; the status LED is required, the attention
 * LED optional. The host profile creates its LED files when missing. Saves every LED's state.
 * On failure *out is NULL and err holds one line for an installer (the agent runs fine without
 * LEDs: the caller logs it as a warning). MLC_ERR_NOTFOUND no such LED, MLC_ERR_PERM no write
 * access (see the udev rule in packaging/), MLC_ERR_CONFIG the profile has no LEDs. */
int mlc_led_open(struct mlc_led **out, const struct mlc_board *board, const char *root,
                 char *err, size_t errcap);

/* Shows a pattern. Setting the pattern already shown writes nothing (rewriting the timer trigger
 * would restart the blink and make it stutter), except to finish blink delays the kernel had not
 * yet let us write (the timer's delay files appear, and get the udev rule's permissions, only
 * after the trigger is set). NULL led is a no-op. Returns 0 or a negative mlc_err. */
int mlc_led_set(struct mlc_led *led, enum mlc_led_pattern pattern);
/* The pattern shown now (MLC_LED_OFF before the first set). */
enum mlc_led_pattern mlc_led_pattern(const struct mlc_led *led);
/* Path of the LED serving a role ("" if none), for the log and the status page. */
const char *mlc_led_path(const struct mlc_led *led, enum mlc_board_led_role role);

/* Puts back what each LED showed at open (also on the SIGTERM path: the loop stops, then this
 * runs). Returns 0 or the first error; it tries every LED regardless. */
int mlc_led_restore(struct mlc_led *led);
/* mlc_led_restore, then frees. NULL and half-opened handles are fine. */
void mlc_led_close(struct mlc_led *led);

/* The word in [brackets] of a trigger list ("none [mmc0] timer" -> "mmc0") into out; MLC_ERR_DATA
 * if there is none or it does not fit. Exposed for tests. */
int mlc_led_current_trigger(const char *list, char *out, size_t cap);
/* 1 if word is one of the triggers in list (with or without brackets). */
int mlc_led_has_trigger(const char *list, const char *word);
#endif
