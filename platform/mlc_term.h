/* Reading a secret typed or piped into the agent: no echo on a terminal, bounded, one trailing
 * newline stripped. Owns the terminal mode while reading and always puts it back. */
#ifndef MLC_TERM_H
#define MLC_TERM_H
#include <stddef.h>

/* 1 if fd is a terminal. */
int mlc_term_is_tty(int fd);

/* Reads a secret from fd into buf (cap bytes: at most cap - 1 bytes of input, line end included,
 * then a NUL).
 * On a terminal: prints prompt on stderr (if not NULL), turns echo off, reads one line, and
 * restores the terminal (also when interrupted by Ctrl-C). Otherwise (a pipe or file): reads up
 * to end of input. Then one trailing "\n" (or "\r\n") is removed.
 * MLC_ERR_TOO_BIG if the value does not fit, MLC_ERR_IO on a read error. The caller wipes buf. */
int mlc_term_read_secret(int fd, const char *prompt, char *buf, size_t cap, size_t *len);
#endif
