/* Named crash points for the crash suite: when the environment variable MLC_CRASH_AT names a
 * point (e.g. "exact.token.answered"), the process kills itself with SIGKILL the Nth time it
 * passes that point (MLC_CRASH_AT=name or name@N; N defaults to 1). Costs one string compare
 * when unset. Only tests set the variable; a customer's box never does. */
#ifndef MLC_CRASHPOINT_H
#define MLC_CRASHPOINT_H

void mlc_crashpoint(const char *name);
/* Tests: forget the parsed variable so a changed environment is read again. */
void mlc_crashpoint_reset(void);
#endif
