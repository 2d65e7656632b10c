#include "mlc_test_util.h"
#include "mlc_alloc.h"
#include "mlc_board.h"
#include "mlc_config.h"
#include "mlc_err.h"

#include <stdlib.h>
#include <string.h>

#define MIB ((size_t)1024 * 1024)

static void profiles_are_found_by_their_config_names(void **state)
{
    (void)state;
    const struct mlc_board_profile *p = mlc_board_profile_find("raspberry-pi");
    assert_non_null(p);
    assert_int_equal(p->kind, MLC_BOARD_RASPBERRY_PI);
    assert_string_equal(p->led[MLC_BOARD_LED_STATUS][0], "/sys/class/leds/ACT");
    assert_string_equal(p->led[MLC_BOARD_LED_STATUS][1], "/sys/class/leds/led0");
    assert_string_equal(p->led[MLC_BOARD_LED_ATTENTION][0], "/sys/class/leds/PWR");
    assert_string_equal(p->led[MLC_BOARD_LED_ATTENTION][1], "/sys/class/leds/led1");
    assert_ptr_equal(mlc_board_profile_find("gateway"), mlc_board_profile_get(MLC_BOARD_GATEWAY));
    assert_ptr_equal(mlc_board_profile_find("host"), mlc_board_profile_get(MLC_BOARD_HOST));
    assert_null(mlc_board_profile_find("Raspberry-Pi"));
    assert_null(mlc_board_profile_find(NULL));
    /* an out-of-range kind falls back to no LEDs rather than reading past the table */
    assert_int_equal(mlc_board_profile_get((enum mlc_board_kind)99)->kind, MLC_BOARD_NONE);
}

/* The config's [board] profile word list must follow enum mlc_board_kind, or "gateway" in a
 * config file would open the host profile. */
static void config_words_follow_the_profile_table(void **state)
{
    (void)state;
    size_t n, count;
    const struct mlc_config_key *keys = mlc_config_keys(&n);
    const struct mlc_board_profile *profiles = mlc_board_profiles(&count);
    const struct mlc_config_key *k = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].section, "board") == 0 && strcmp(keys[i].name, "profile") == 0)
            k = &keys[i];
    assert_non_null(k);
    char words[128];
    snprintf(words, sizeof(words), "%s", k->words);
    size_t i = 0;
    for (char *save = NULL, *w = strtok_r(words, "|", &save); w; w = strtok_r(NULL, "|", &save), i++) {
        assert_true(i < count);
        assert_string_equal(w, profiles[i].name);
        assert_int_equal(profiles[i].kind, (int)i);
    }
    assert_int_equal(i, count);
}

static void config_selects_the_board(void **state)
{
    (void)state;
    struct mlc_config cfg;
    char err[1024];
    const char *text = "[board]\nprofile = raspberry-pi\nled_active_low = yes\n";
    assert_int_equal(mlc_config_parse(&cfg, text, strlen(text), "t.conf", err, sizeof(err)), MLC_OK);
    assert_int_equal(cfg.board.profile, MLC_BOARD_RASPBERRY_PI);
    struct mlc_board b;
    assert_int_equal(mlc_board_from_config(&b, &cfg, err, sizeof(err)), MLC_OK);
    assert_int_equal(b.profile->kind, MLC_BOARD_RASPBERRY_PI);
    assert_int_equal(b.active_low, 1);
    assert_string_equal(b.led[MLC_BOARD_LED_STATUS], ""); /* the profile's candidates apply */

    /* the default is no board: a server gets neither LEDs nor a memory limit */
    mlc_config_defaults(&cfg);
    assert_int_equal(cfg.board.profile, MLC_BOARD_NONE);

    /* a gateway without its LED path is refused with what to set */
    text = "[board]\nprofile = gateway\n";
    assert_int_equal(mlc_config_parse(&cfg, text, strlen(text), "t.conf", err, sizeof(err)), MLC_OK);
    assert_int_equal(mlc_board_from_config(&b, &cfg, err, sizeof(err)), MLC_ERR_CONFIG);
    assert_non_null(strstr(err, "led_status"));
    assert_null(strchr(err, '\n'));

    text = "[board]\nprofile = gateway\nled_status = /sys/class/leds/green:status\n";
    assert_int_equal(mlc_config_parse(&cfg, text, strlen(text), "t.conf", err, sizeof(err)), MLC_OK);
    assert_int_equal(mlc_board_from_config(&b, &cfg, err, sizeof(err)), MLC_OK);
    assert_string_equal(b.led[MLC_BOARD_LED_STATUS], "/sys/class/leds/green:status");

    /* an unknown profile is a config error naming the allowed words */
    text = "[board]\nprofile = pi\n";
    assert_int_equal(mlc_config_parse(&cfg, text, strlen(text), "t.conf", err, sizeof(err)),
                     MLC_ERR_CONFIG);
    assert_non_null(strstr(err, "raspberry-pi"));

    /* a relative LED path given directly is refused */
    assert_int_equal(mlc_board_resolve(&b, MLC_BOARD_GATEWAY, "leds/status", NULL, 0, err,
                                       sizeof(err)), MLC_ERR_CONFIG);
    assert_non_null(strstr(err, "absolute"));
}

static void budget_comes_from_the_profile_unless_configured(void **state)
{
    (void)state;
    const struct mlc_board_profile *pi = mlc_board_profile_get(MLC_BOARD_RASPBERRY_PI);
    assert_int_equal(mlc_board_heap_budget(pi), 8 * MIB);
    assert_int_equal(mlc_board_heap_budget(mlc_board_profile_get(MLC_BOARD_NONE)), 0);
    assert_int_equal(mlc_board_heap_budget(NULL), 0);
    assert_int_equal(mlc_board_budget_for(pi, 0), 8 * MIB);
    assert_int_equal(mlc_board_budget_for(pi, 32 * MIB), 32 * MIB); /* the installer wins */
    assert_int_equal(mlc_board_budget_for(mlc_board_profile_get(MLC_BOARD_HOST), 0), 0);
}

static void pi_budget_is_enforced_by_the_allocator(void **state)
{
    (void)state;
    const struct mlc_board_profile *pi = mlc_board_profile_get(MLC_BOARD_RASPBERRY_PI);
    unsigned long refused = mlc_alloc_failures();
    assert_int_equal(mlc_board_apply_budget(pi, 0), 8 * MIB);
    assert_int_equal(mlc_alloc_budget(), 8 * MIB);
    /* one answer bigger than the Pi's heap fails cleanly instead of pushing the board into swap */
    void *big = mlc_malloc(9 * MIB);
    assert_null(big);
    assert_int_equal(mlc_alloc_failures(), refused + 1);
    void *fits = mlc_malloc(4 * MIB);
    assert_non_null(fits);
    mlc_free(fits);
    /* configured memory_budget overrides the board */
    assert_int_equal(mlc_board_apply_budget(pi, 16 * MIB), 16 * MIB);
    big = mlc_malloc(9 * MIB);
    assert_non_null(big);
    mlc_free(big);
    mlc_alloc_set_budget(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(profiles_are_found_by_their_config_names),
        cmocka_unit_test(config_words_follow_the_profile_table),
        cmocka_unit_test(config_selects_the_board),
        cmocka_unit_test(budget_comes_from_the_profile_unless_configured),
        cmocka_unit_test(pi_budget_is_enforced_by_the_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
