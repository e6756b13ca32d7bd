#include "simtty.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "baud.h"
#include "clock.h"

uint64_t simtty_now_ns(void)
{
    return fwup_clock_mono_ns();
}

static int baud_to_speed(unsigned baud, speed_t *out)
{
    *out = fwup_baud_speed(baud);
    return *out == B0 ? -1 : 0;
}

int simtty_make_raw(int fd, unsigned baud)
{
    struct termios tio;
    if (tcgetattr(fd, &tio) < 0)
        return -1;
    cfmakeraw(&tio);
    tio.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
    tio.c_cflag |= CLOCAL | CREAD | CS8;
    tio.c_iflag &= ~(IXON | IXOFF | IXANY);
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (baud) {
        speed_t sp;
        if (baud_to_speed(baud, &sp) < 0) {
            errno = EINVAL;
            return -1;
        }
        cfsetispeed(&tio, sp);
        cfsetospeed(&tio, sp);
    }
    return tcsetattr(fd, TCSANOW, &tio);
}

int simtty_open_pty(int *master, int *slave, char *name, size_t namelen)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (m < 0)
        return -1;
    char buf[64];
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, buf, sizeof(buf)) != 0)
        goto fail;
    int s = open(buf, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (s < 0)
        goto fail;
    if (simtty_make_raw(s, 0) < 0) {
        close(s);
        goto fail;
    }
    if (name)
        snprintf(name, namelen, "%s", buf);
    *master = m;
    *slave = s;
    return 0;
fail:
    close(m);
    return -1;
}

int simtty_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 100);
        } else {
            return -1;
        }
    }
    return 0;
}

uint8_t *simtty_random_bytes(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1; /* never 0, which xorshift keeps at 0 */
    for (size_t i = 0; p && i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

void simtty_die(int status, const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(status);
}
