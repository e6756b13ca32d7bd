/*
 * Logging to stderr with syslog priority prefixes ("<3>", "<6>"...), which
 * journald turns into real priorities when the daemon runs under systemd.
 */
#ifndef FWUPGW_LOG_H
#define FWUPGW_LOG_H

#include "fwupgw/protocol.h"

/* Messages above this priority are dropped (default FWUP_LOG_INFO). */
void fwup_log_set_level(int prio);
void fwup_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)    fwup_log(FWUP_LOG_ERR, __VA_ARGS__)
#define log_warn(...)   fwup_log(FWUP_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) fwup_log(FWUP_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   fwup_log(FWUP_LOG_INFO, __VA_ARGS__)
#define log_debug(...)  fwup_log(FWUP_LOG_DEBUG, __VA_ARGS__)

#endif
