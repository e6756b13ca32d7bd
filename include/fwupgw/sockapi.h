/*
 * fwupgw control socket protocol: newline-delimited JSON over a UNIX stream
 * socket. See docs/socket-api.md for the methods and their fields.
 */
#ifndef FWUPGW_SOCKAPI_H
#define FWUPGW_SOCKAPI_H

/* Carried as "v" in every reply and notification; a request may send it and
 * is refused if it asks for a newer version than the daemon speaks. */
#define FWUP_SOCKAPI_VERSION 1

#define FWUP_SOCKAPI_DEFAULT_PATH "/run/fwupgw/fwupgw.sock"

/* A request line longer than this closes the connection after an error. */
#define FWUP_SOCKAPI_MAX_LINE (1024 * 1024)
/* File descriptors accepted with one request line (SCM_RIGHTS). */
#define FWUP_SOCKAPI_MAX_FDS 64

/* Error codes in {"error": {"code", "message"}}. The first five follow
 * JSON-RPC 2.0; the rest are ours. */
enum fwup_sockapi_error {
    FWUP_E_PARSE = -32700,     /* not JSON */
    FWUP_E_INVALID = -32600,   /* JSON, but not a request object */
    FWUP_E_NO_METHOD = -32601, /* unknown method */
    FWUP_E_PARAMS = -32602,    /* missing or mistyped parameter */
    FWUP_E_INTERNAL = -32603,  /* daemon fault (e.g. database error) */
    FWUP_E_DENIED = 1,         /* caller may not do this (SO_PEERCRED) */
    FWUP_E_NOT_FOUND = 2,      /* unknown job, device, batch or tag */
    FWUP_E_IMAGE = 3,          /* image unreadable, corrupt, or does not fit */
    FWUP_E_CHECKSUM = 4,       /* image SHA-256 differs from the expected one */
    FWUP_E_STATE = 5,          /* not possible in the job's current state */
    FWUP_E_VERSION = 6,        /* request "v" newer than the daemon speaks */
    FWUP_E_TOO_LARGE = 7,      /* request line over FWUP_SOCKAPI_MAX_LINE */
    FWUP_E_BUSY = 8,           /* a client limit of the daemon: retry later */
    FWUP_E_UNAVAILABLE = 9,    /* cannot store it now (disk full): nothing done, retry later */
};

#endif
