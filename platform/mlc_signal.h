/* Process signals turned into loop events: a self-pipe that the event loop polls. The handlers only
 * set a flag and write one byte (async-signal-safe); everything else happens in the loop.
 * Owns the SIGTERM/SIGINT/SIGHUP/SIGPIPE dispositions while installed; touches no other state. */
#ifndef MLC_SIGNAL_H
#define MLC_SIGNAL_H

/* Bits returned by mlc_signal_pending/mlc_signal_take. */
enum mlc_signal_bits {
    MLC_SIG_STOP = 1,   /* SIGTERM or SIGINT: finish the step in hand and stop */
    MLC_SIG_RELOAD = 2  /* SIGHUP: reload the configuration */
};

/* Installs the handlers (SIGPIPE is ignored: a peer closing a socket must not kill the agent) and
 * returns in *fd the read end of the self-pipe, readable whenever a signal arrived. One owner at a
 * time: MLC_ERR_EXISTS if installed already. Returns 0 or a negative mlc_err. */
int mlc_signal_install(int *fd);
/* Restores the previous dispositions and closes the pipe. Safe to call when not installed. */
void mlc_signal_uninstall(void);
/* Signals seen and not yet taken (does not clear them). Cheap; for checks between callbacks. */
unsigned mlc_signal_pending(void);
/* Empties the self-pipe and returns, then clears, the pending bits. */
unsigned mlc_signal_take(void);
#endif
