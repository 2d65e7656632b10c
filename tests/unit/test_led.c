#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_board.h"
#include "mlc_err.h"
#include "mlc_led.h"
#include "mlc_platform.h"
#include "mlc_sysfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A fake sysfs LED as the kernel shows it: the trigger list with the active one in brackets. */
static void make_led(const char *root, const char *name, const char *triggers, const char *brightness,
                     const char *max, int with_delays)
{
    char dir[600], f[700];
    snprintf(dir, sizeof(dir), "%s/sys/class/leds/%s", root, name);
    assert_int_equal(mlc_fs_mkdir_p(dir, 0755), MLC_OK);
    snprintf(f, sizeof(f), "%s/trigger", dir);
    mlc_test_write(f, triggers);
    snprintf(f, sizeof(f), "%s/brightness", dir);
    mlc_test_write(f, brightness);
    snprintf(f, sizeof(f), "%s/max_brightness", dir);
    mlc_test_write(f, max);
    if (with_delays) {
        snprintf(f, sizeof(f), "%s/delay_on", dir);
        mlc_test_write(f, "250\n");
        snprintf(f, sizeof(f), "%s/delay_off", dir);
        mlc_test_write(f, "750\n");
    }
}

/* The content of one attribute, without the newline a real kernel would add. */
static const char *attr(const char *root, const char *name, const char *file)
{
    static char out[4][256];
    static int slot;
    char p[700];
    snprintf(p, sizeof(p), "%s/sys/class/leds/%s/%s", root, name, file);
    char *text = mlc_test_slurp(p, NULL);
    if (!text)
        fail_msg("missing %s", p);
    char *o = out[slot++ % 4];
    snprintf(o, 256, "%s", text);
    o[strcspn(o, "\n")] = '\0';
    free(text);
    return o;
}

static void set_attr(const char *root, const char *name, const char *file, const char *value)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/sys/class/leds/%s/%s", root, name, file);
    mlc_test_write(p, value);
}

/* A Raspberry Pi as Raspberry Pi OS sets it up: ACT shows SD card activity, PWR is lit. */
static const char *pi_tree(void)
{
    const char *root = mlc_test_tmpdir("led");
    make_led(root, "ACT", "none rc-feedback kbd-capslock [mmc0] timer oneshot heartbeat default-on\n",
             "0\n", "255\n", 0);
    make_led(root, "PWR", "none rc-feedback mmc0 timer heartbeat [default-on] input\n", "255\n",
             "255\n", 0);
    return root;
}

static struct mlc_led *open_pi(const char *root)
{
    struct mlc_board b;
    char err[300];
    assert_int_equal(mlc_board_resolve(&b, MLC_BOARD_RASPBERRY_PI, NULL, NULL, -1, err, sizeof(err)),
                     MLC_OK);
    struct mlc_led *led = NULL;
    int rc = mlc_led_open(&led, &b, root, err, sizeof(err));
    if (rc != MLC_OK)
        fail_msg("open: %s", err);
    return led;
}

static void patterns_drive_the_kernel_triggers(void **state)
{
    (void)state;
    const char *root = pi_tree();
    struct mlc_led *led = open_pi(root);
    assert_string_equal(mlc_led_path(led, MLC_BOARD_LED_STATUS), "/sys/class/leds/ACT");
    assert_string_equal(mlc_led_path(led, MLC_BOARD_LED_ATTENTION), "/sys/class/leds/PWR");

    /* healthy: steady at full brightness, no trigger */
    assert_int_equal(mlc_led_set(led, MLC_LED_HEALTHY), MLC_OK);
    assert_string_equal(attr(root, "ACT", "trigger"), "none");
    assert_string_equal(attr(root, "ACT", "brightness"), "255");
    /* the red power LED is not touched while nobody is needed */
    assert_string_equal(attr(root, "PWR", "trigger"),
                        "none rc-feedback mmc0 timer heartbeat [default-on] input");

    /* syncing: the kernel's timer blinks slowly; the delay files exist once the timer runs */
    set_attr(root, "ACT", "delay_on", "500\n");
    set_attr(root, "ACT", "delay_off", "500\n");
    assert_int_equal(mlc_led_set(led, MLC_LED_SYNCING), MLC_OK);
    assert_string_equal(attr(root, "ACT", "trigger"), "timer");
    assert_string_equal(attr(root, "ACT", "delay_on"), "1000");
    assert_string_equal(attr(root, "ACT", "delay_off"), "1000");
    assert_int_equal(mlc_led_pattern(led), MLC_LED_SYNCING);

    /* a person is needed: fast blink on both LEDs */
    set_attr(root, "PWR", "delay_on", "500\n");
    set_attr(root, "PWR", "delay_off", "500\n");
    assert_int_equal(mlc_led_set(led, MLC_LED_ATTENTION), MLC_OK);
    assert_string_equal(attr(root, "ACT", "delay_on"), "100");
    assert_string_equal(attr(root, "ACT", "delay_off"), "100");
    assert_string_equal(attr(root, "PWR", "trigger"), "timer");
    assert_string_equal(attr(root, "PWR", "delay_on"), "100");

    /* fixed: PWR goes back to its usual job, ACT steady again */
    assert_int_equal(mlc_led_set(led, MLC_LED_HEALTHY), MLC_OK);
    assert_string_equal(attr(root, "PWR", "trigger"), "default-on");
    assert_string_equal(attr(root, "ACT", "trigger"), "none");
    assert_string_equal(attr(root, "ACT", "brightness"), "255");

    /* stopped: dark */
    assert_int_equal(mlc_led_set(led, MLC_LED_OFF), MLC_OK);
    assert_string_equal(attr(root, "ACT", "brightness"), "0");
    mlc_led_close(led);
    mlc_test_rmtree(root);
}

static void close_puts_back_what_the_leds_showed(void **state)
{
    (void)state;
    const char *root = pi_tree();
    struct mlc_led *led = open_pi(root);
    assert_int_equal(mlc_led_set(led, MLC_LED_ATTENTION), MLC_OK);
    mlc_led_close(led); /* what the SIGTERM path ends with */
    assert_string_equal(attr(root, "ACT", "trigger"), "mmc0");
    assert_string_equal(attr(root, "PWR", "trigger"), "default-on");

    /* an LED that was lit by hand (trigger none) gets its brightness back too */
    mlc_test_rmtree(root);
    root = mlc_test_tmpdir("led");
    make_led(root, "ACT", "[none] timer heartbeat\n", "17\n", "255\n", 0);
    led = open_pi(root);
    assert_string_equal(mlc_led_path(led, MLC_BOARD_LED_ATTENTION), ""); /* no PWR on this board */
    assert_int_equal(mlc_led_set(led, MLC_LED_OFF), MLC_OK);
    assert_string_equal(attr(root, "ACT", "brightness"), "0");
    mlc_led_close(led);
    assert_string_equal(attr(root, "ACT", "trigger"), "none");
    assert_string_equal(attr(root, "ACT", "brightness"), "17");

    /* and one that blinked at its own rate keeps that rate */
    mlc_test_rmtree(root);
    root = mlc_test_tmpdir("led");
    make_led(root, "ACT", "none [timer] heartbeat\n", "1\n", "1\n", 1);
    led = open_pi(root);
    assert_int_equal(mlc_led_set(led, MLC_LED_SYNCING), MLC_OK);
    assert_string_equal(attr(root, "ACT", "delay_on"), "1000");
    assert_int_equal(mlc_led_restore(led), MLC_OK);
    assert_string_equal(attr(root, "ACT", "trigger"), "timer");
    assert_string_equal(attr(root, "ACT", "delay_on"), "250");
    assert_string_equal(attr(root, "ACT", "delay_off"), "750");
    mlc_led_close(led);
    mlc_test_rmtree(root);
}

static void older_kernels_name_them_led0_and_led1(void **state)
{
    (void)state;
    const char *root = mlc_test_tmpdir("led");
    make_led(root, "led0", "none [mmc0] timer\n", "0\n", "255\n", 1);
    make_led(root, "led1", "none timer [input]\n", "255\n", "255\n", 1);
    struct mlc_led *led = open_pi(root);
    assert_string_equal(mlc_led_path(led, MLC_BOARD_LED_STATUS), "/sys/class/leds/led0");
    assert_string_equal(mlc_led_path(led, MLC_BOARD_LED_ATTENTION), "/sys/class/leds/led1");
    assert_int_equal(mlc_led_set(led, MLC_LED_HEALTHY), MLC_OK);
    assert_string_equal(attr(root, "led0", "brightness"), "255");
    mlc_led_close(led);
    assert_string_equal(attr(root, "led0", "trigger"), "mmc0");
    mlc_test_rmtree(root);
}

static void active_low_leds_are_inverted(void **state)
{
    (void)state;
    const char *root = pi_tree();
    struct mlc_board b;
    assert_int_equal(mlc_board_resolve(&b, MLC_BOARD_RASPBERRY_PI, NULL, NULL, 1, NULL, 0), MLC_OK);
    struct mlc_led *led = NULL;
    assert_int_equal(mlc_led_open(&led, &b, root, NULL, 0), MLC_OK);
    assert_int_equal(mlc_led_set(led, MLC_LED_HEALTHY), MLC_OK);
    assert_string_equal(attr(root, "ACT", "brightness"), "0"); /* 0 lights it */
    assert_int_equal(mlc_led_set(led, MLC_LED_OFF), MLC_OK);
    assert_string_equal(attr(root, "ACT", "brightness"), "255");
    mlc_led_close(led);
    mlc_test_rmtree(root);
}

static void same_pattern_again_does_not_restart_the_blink(void **state)
{
    (void)state;
    const char *root = pi_tree();
    set_attr(root, "ACT", "delay_on", "500\n");
    set_attr(root, "ACT", "delay_off", "500\n");
    struct mlc_led *led = open_pi(root);
    assert_int_equal(mlc_led_set(led, MLC_LED_SYNCING), MLC_OK);
    /* the loop re-asserts its state every wake-up; a rewrite would show as a stutter */
    set_attr(root, "ACT", "trigger", "untouched\n");
    assert_int_equal(mlc_led_set(led, MLC_LED_SYNCING), MLC_OK);
    assert_string_equal(attr(root, "ACT", "trigger"), "untouched");
    /* syncing -> needs a person changes the rate without re-arming the trigger */
    assert_int_equal(mlc_led_set(led, MLC_LED_ATTENTION), MLC_OK);
    assert_string_equal(attr(root, "ACT", "trigger"), "untouched");
    assert_string_equal(attr(root, "ACT", "delay_on"), "100");
    mlc_led_close(led);
    mlc_test_rmtree(root);
}

static void blink_delays_written_once_the_kernel_offers_them(void **state)
{
    (void)state;
    const char *root = pi_tree(); /* no delay files: the kernel makes them with the timer */
    struct mlc_led *led = open_pi(root);
    assert_int_equal(mlc_led_set(led, MLC_LED_SYNCING), MLC_OK);
    assert_string_equal(attr(root, "ACT", "trigger"), "timer");
    set_attr(root, "ACT", "delay_on", "500\n"); /* the timer's default rate */
    set_attr(root, "ACT", "delay_off", "500\n");
    assert_int_equal(mlc_led_set(led, MLC_LED_SYNCING), MLC_OK);
    assert_string_equal(attr(root, "ACT", "delay_on"), "1000");
    assert_string_equal(attr(root, "ACT", "delay_off"), "1000");
    mlc_led_close(led);
    mlc_test_rmtree(root);
}

static void without_timer_trigger_blinks_fall_back(void **state)
{
    (void)state;
    const char *root = mlc_test_tmpdir("led");
    make_led(root, "ACT", "none [mmc0] heartbeat\n", "0\n", "1\n", 0);
    struct mlc_led *led = open_pi(root);
    assert_int_equal(mlc_led_set(led, MLC_LED_SYNCING), MLC_OK);
    assert_string_equal(attr(root, "ACT", "trigger"), "none");
    assert_string_equal(attr(root, "ACT", "brightness"), "1");
    assert_int_equal(mlc_led_set(led, MLC_LED_ATTENTION), MLC_OK);
    assert_string_equal(attr(root, "ACT", "trigger"), "heartbeat"); /* still unlike "healthy" */
    mlc_led_close(led);
    mlc_test_rmtree(root);
}

static void gateway_and_host_take_paths_from_the_config(void **state)
{
    (void)state;
    const char *root = mlc_test_tmpdir("led");
    make_led(root, "status", "[none] timer\n", "0\n", "1\n", 1);
    struct mlc_board b;
    char err[300];
    assert_int_equal(mlc_board_resolve(&b, MLC_BOARD_GATEWAY, "/sys/class/leds/status", NULL, 0,
                                       err, sizeof(err)), MLC_OK);
    struct mlc_led *led = NULL;
    assert_int_equal(mlc_led_open(&led, &b, root, err, sizeof(err)), MLC_OK);
    assert_int_equal(mlc_led_set(led, MLC_LED_ATTENTION), MLC_OK);
    assert_string_equal(attr(root, "status", "delay_off"), "100");
    mlc_led_close(led);
    assert_string_equal(attr(root, "status", "trigger"), "none");

    /* host: the agent makes its own directory of files, so a test or a developer can watch it */
    assert_int_equal(mlc_board_resolve(&b, MLC_BOARD_HOST, "/sys/class/leds/fake", NULL, 0, err,
                                       sizeof(err)), MLC_OK);
    assert_int_equal(mlc_led_open(&led, &b, root, err, sizeof(err)), MLC_OK);
    assert_int_equal(mlc_led_set(led, MLC_LED_HEALTHY), MLC_OK);
    assert_string_equal(attr(root, "fake", "brightness"), "1");
    mlc_led_close(led);
    assert_string_equal(attr(root, "fake", "trigger"), "none");
    mlc_test_rmtree(root);
}

static void missing_leds_are_reported_for_an_installer(void **state)
{
    (void)state;
    const char *root = mlc_test_tmpdir("led");
    struct mlc_board b;
    char err[300];
    struct mlc_led *led = (struct mlc_led *)1;
    assert_int_equal(mlc_board_resolve(&b, MLC_BOARD_RASPBERRY_PI, NULL, NULL, -1, NULL, 0), MLC_OK);
    assert_int_equal(mlc_led_open(&led, &b, root, err, sizeof(err)), MLC_ERR_NOTFOUND);
    assert_null(led);
    assert_non_null(strstr(err, "/sys/class/leds/ACT or /sys/class/leds/led0"));
    assert_non_null(strstr(err, "led_status"));

    assert_int_equal(mlc_board_resolve(&b, MLC_BOARD_NONE, NULL, NULL, -1, NULL, 0), MLC_OK);
    assert_int_equal(mlc_led_open(&led, &b, root, err, sizeof(err)), MLC_ERR_CONFIG);
    assert_null(led);

    /* a trigger file without a bracketed trigger is not an LED we can restore */
    make_led(root, "ACT", "none mmc0 timer\n", "0\n", "1\n", 0);
    assert_int_equal(mlc_board_resolve(&b, MLC_BOARD_RASPBERRY_PI, NULL, NULL, -1, NULL, 0), MLC_OK);
    assert_int_equal(mlc_led_open(&led, &b, root, err, sizeof(err)), MLC_ERR_DATA);
    assert_null(led);
    assert_non_null(strstr(err, "/sys/class/leds/ACT"));

    /* NULL handles are safe everywhere */
    assert_int_equal(mlc_led_set(NULL, MLC_LED_HEALTHY), MLC_OK);
    assert_int_equal(mlc_led_restore(NULL), MLC_OK);
    mlc_led_close(NULL);
    mlc_test_rmtree(root);
}

static void open_survives_every_allocation_failure(void **state)
{
    (void)state;
    const char *root = pi_tree();
    struct mlc_board b;
    assert_int_equal(mlc_board_resolve(&b, MLC_BOARD_RASPBERRY_PI, NULL, NULL, -1, NULL, 0), MLC_OK);
    for (long n = 1; n <= 2; n++) {
        struct mlc_led *led = (struct mlc_led *)1;
        mlc_alloc_fail_after(n);
        assert_int_equal(mlc_led_open(&led, &b, root, NULL, 0), MLC_ERR_NOMEM);
        mlc_alloc_fail_after(0);
        assert_null(led);
    }
    size_t before = mlc_alloc_current();
    struct mlc_led *led = open_pi(root);
    mlc_led_close(led);
    assert_int_equal(mlc_alloc_current(), before);
    /* nothing was written by the failed opens */
    assert_string_equal(attr(root, "ACT", "trigger"),
                        "none rc-feedback kbd-capslock [mmc0] timer oneshot heartbeat default-on");
    mlc_test_rmtree(root);
}

static void trigger_lists_parse_strictly(void **state)
{
    (void)state;
    char t[16];
    assert_int_equal(mlc_led_current_trigger("none [mmc0] timer heartbeat", t, sizeof(t)), MLC_OK);
    assert_string_equal(t, "mmc0");
    assert_int_equal(mlc_led_current_trigger("[none] timer", t, sizeof(t)), MLC_OK);
    assert_string_equal(t, "none");
    assert_int_equal(mlc_led_current_trigger("none mmc0", t, sizeof(t)), MLC_ERR_DATA);
    assert_int_equal(mlc_led_current_trigger("none [] x", t, sizeof(t)), MLC_ERR_DATA);
    assert_int_equal(mlc_led_current_trigger("none [mmc0", t, sizeof(t)), MLC_ERR_DATA);
    assert_int_equal(mlc_led_current_trigger("[a-very-long-trigger-name]", t, sizeof(t)), MLC_ERR_DATA);
    assert_true(mlc_led_has_trigger("none [timer] heartbeat", "timer"));
    assert_true(mlc_led_has_trigger("none timer\n", "timer"));
    assert_false(mlc_led_has_trigger("none timers oneshot", "timer"));
    assert_false(mlc_led_has_trigger("", "timer"));
}

static void sysfs_paths_stay_below_the_root(void **state)
{
    (void)state;
    char p[64];
    assert_int_equal(mlc_sysfs_path(p, sizeof(p), "/tmp/x/", "/sys/class/leds/ACT"), MLC_OK);
    assert_string_equal(p, "/tmp/x/sys/class/leds/ACT");
    assert_int_equal(mlc_sysfs_path(p, sizeof(p), NULL, "/sys/a..b"), MLC_OK);
    assert_string_equal(p, "/sys/a..b");
    assert_int_equal(mlc_sysfs_path(p, sizeof(p), "/tmp/x", "/sys/../etc/shadow"), MLC_ERR_DATA);
    assert_int_equal(mlc_sysfs_path(p, sizeof(p), "/tmp/x", "/sys/class/.."), MLC_ERR_DATA);
    assert_int_equal(mlc_sysfs_path(p, sizeof(p), "/tmp/x", "sys/class"), MLC_ERR_DATA);
    assert_int_equal(mlc_sysfs_path(p, 10, "/tmp/x", "/sys/class"), MLC_ERR_TOO_BIG);

    /* reads are bounded and report a value that does not fit */
    const char *root = mlc_test_tmpdir("sysfs");
    make_led(root, "x", "[none] timer\n", "0\n", "1\n", 0);
    char small[6];
    assert_int_equal(mlc_sysfs_read(root, "/sys/class/leds/x/trigger", small, sizeof(small)),
                     MLC_ERR_TOO_BIG);
    char big[64];
    assert_int_equal(mlc_sysfs_read(root, "/sys/class/leds/x/trigger", big, sizeof(big)), MLC_OK);
    assert_string_equal(big, "[none] timer");
    assert_int_equal(mlc_sysfs_read(root, "/sys/class/leds/x/nope", big, sizeof(big)),
                     MLC_ERR_NOTFOUND);
    /* writes never create attributes */
    assert_int_equal(mlc_sysfs_write(root, "/sys/class/leds/x/nope", "1"), MLC_ERR_NOTFOUND);
    assert_false(mlc_sysfs_exists(root, "/sys/class/leds/x/nope"));
    mlc_test_rmtree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(patterns_drive_the_kernel_triggers),
        cmocka_unit_test(close_puts_back_what_the_leds_showed),
        cmocka_unit_test(older_kernels_name_them_led0_and_led1),
        cmocka_unit_test(active_low_leds_are_inverted),
        cmocka_unit_test(same_pattern_again_does_not_restart_the_blink),
        cmocka_unit_test(blink_delays_written_once_the_kernel_offers_them),
        cmocka_unit_test(without_timer_trigger_blinks_fall_back),
        cmocka_unit_test(gateway_and_host_take_paths_from_the_config),
        cmocka_unit_test(missing_leds_are_reported_for_an_installer),
        cmocka_unit_test(open_survives_every_allocation_failure),
        cmocka_unit_test(trigger_lists_parse_strictly),
        cmocka_unit_test(sysfs_paths_stay_below_the_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
