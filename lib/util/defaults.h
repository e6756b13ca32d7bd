/*
 * Defaults and limits that the daemon, fwupctl and the engine hosts must
 * agree on, in one place. The socket's path is FWUP_SOCKAPI_DEFAULT_PATH
 * (fwupgw/sockapi.h), where clients of the socket find it.
 */
#ifndef FWUPGW_DEFAULTS_H
#define FWUPGW_DEFAULTS_H

/* Device ids, link names and tags: 1 to this many characters of
 * A-Z a-z 0-9 . _ - (the config, manifests and fwupctl's output). */
#define FWUP_ID_MAX 64

/* Runs a job gets before it fails (daemon.max_attempts, a device's
 * max_attempts, jobs.queue and fwupctl queue --max-attempts): the default
 * and the largest accepted. */
#define FWUP_DEFAULT_MAX_ATTEMPTS 3
#define FWUP_MAX_ATTEMPTS_MAX     100

/* How long an engine may take to abort cleanly after a cancel. */
#define FWUP_DEFAULT_CANCEL_GRACE_MS 5000

#endif
