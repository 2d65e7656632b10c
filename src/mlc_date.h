/* Calendar arithmetic on the proleptic Gregorian calendar, without the C library's time zone
 * state: days since 1970-01-01 from a date and back (H. Hinnant's algorithms). Pure functions. */
#ifndef MLC_DATE_H
#define MLC_DATE_H
#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1..12), day d (1..31); negative before 1970. */
int64_t mlc_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The date of day z (days since 1970-01-01). */
void mlc_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
#endif
