/*
 * Hostile local clients for the resource-limit tests. Each mode connects to
 * the daemon's socket, makes the daemon hold what it can, never reads, and
 * keeps everything open until its stdin closes; then it reports what the
 * daemon told each connection.
 *
 *   hog SOCKET flood N BYTES   N connections, each sending BYTES without '\n'
 *   hog SOCKET watch N         N connections subscribed to events
 *   hog SOCKET fds N           one connection holding N passed descriptors
 *   hog SOCKET ping            one well-behaved client: "version" requests,
 *                              one at a time, until stdin closes; prints
 *                              "pings=P slowest_us=U" (the loop's stalls)
 *
 * Prints "ready" once set up, and at the end one line:
 *   refused=R closed=C open=O   (R: got a FWUP_E_BUSY error line)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int dial(const char *path);

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int ping(const char *path)
{
    int fd = dial(path);
    long long slowest = 0;
    int n = 0;
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        struct pollfd in = {.fd = 0, .events = POLLIN};
        /* a request every millisecond, until the test closes stdin */
        if (poll(&in, 1, 1) > 0) {
            char b[64];
            if (read(0, b, sizeof(b)) <= 0)
                break;
        }
        static const char req[] = "{\"id\":1,\"method\":\"version\"}\n";
        long long t0 = now_us();
        if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
            return 1;
        char c = 0;
        while (c != '\n')
            if (recv(fd, &c, 1, 0) != 1)
                return 1;
        long long dt = now_us() - t0;
        slowest = dt > slowest ? dt : slowest;
        n++;
    }
    printf("pings=%d slowest_us=%lld\n", n, slowest);
    return 0;
}

static int dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        exit(2);
    }
    /* a daemon that stops reading must not hang the test */
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends what the daemon takes; stops at a refusal or a close. */
static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void send_fds(int fd, const char *s, int nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 253)];
        struct cmsghdr align;
    } cbuf;
    if (nfds > 253)
        nfds = 253;
    struct iovec iov = {.iov_base = (void *)s, .iov_len = strlen(s)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = cbuf.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < nfds; i++)
        memcpy(CMSG_DATA(cm) + i * sizeof(int), &null, sizeof(int));
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
        perror("sendmsg");
    close(null);
}

int main(int argc, char **argv)
{
    if (argc < 4 && !(argc == 3 && strcmp(argv[2], "ping") == 0)) {
        fprintf(stderr, "usage: hog SOCKET flood N BYTES | watch N | fds N\n");
        return 2;
    }
    const char *mode = argv[2];
    if (strcmp(mode, "ping") == 0)
        return ping(argv[1]);
    int n = atoi(argv[3]);
    int nconn = strcmp(mode, "fds") == 0 ? 1 : n;
    int *fds = calloc((size_t)nconn, sizeof(int));
    size_t bytes = argc > 4 ? strtoul(argv[4], NULL, 0) : 0;
    char *pad = malloc(bytes + 1);
    memset(pad, 'x', bytes);

    for (int i = 0; i < nconn; i++) {
        fds[i] = dial(argv[1]);
        if (strcmp(mode, "flood") == 0)
            send_all(fds[i], pad, bytes);
        else if (strcmp(mode, "watch") == 0)
            send_all(fds[i], "{\"id\":1,\"method\":\"events.subscribe\"}\n", 38);
        else
            send_fds(fds[i], "{\"id\":1,", n);
    }
    printf("ready\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof(line), stdin))
        ;

    int refused = 0, closed = 0, open_ = 0;
    for (int i = 0; i < nconn; i++) {
        /* the daemon's last words, if any, are at the end of the stream */
        char buf[65536];
        char tail[512] = "";
        int eof = 0;
        for (;;) {
            ssize_t r = recv(fds[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);
            if (r > 0) {
                buf[r] = '\0';
                size_t keep = r > 400 ? 400 : (size_t)r;
                memcpy(tail, buf + r - keep, keep + 1);
                continue;
            }
            eof = r == 0 || (r < 0 && errno != EAGAIN);
            break;
        }
        if (strstr(tail, "\"code\":8"))
            refused++;
        else if (eof)
            closed++;
        else
            open_++;
        close(fds[i]);
    }
    printf("refused=%d closed=%d open=%d\n", refused, closed, open_);
    free(pad);
    free(fds);
    return 0;
}
