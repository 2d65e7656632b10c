#include "mlc_crashpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parsed;
static char point[128];
static long countdown;

void mlc_crashpoint_reset(void)
{
    parsed = 0;
}

static void parse(void)
{
    parsed = 1;
    point[0] = '\0';
    const char *env = getenv("MLC_CRASH_AT");
    if (!env || !*env)
        return;
    const char *at = strchr(env, '@');
    size_t len = at ? (size_t)(at - env) : strlen(env);
    if (len >= sizeof(point))
        return;
    memcpy(point, env, len);
    point[len] = '\0';
    countdown = at ? strtol(at + 1, NULL, 10) : 1;
    if (countdown < 1)
        countdown = 1;
}

void mlc_crashpoint(const char *name)
{
    if (!parsed)
        parse();
    if (!point[0] || strcmp(point, name) != 0)
        return;
    if (--countdown > 0)
        return;
    /* Say where, so a test log shows the kill was the planned one. */
    fprintf(stderr, "mlc: crash point %s reached: killing myself (MLC_CRASH_AT)\n", name);
    fflush(stderr);
    kill(getpid(), SIGKILL);
    _exit(137);
}
