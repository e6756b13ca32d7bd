/*
 * can_smoke: small SocketCAN probes for the kernel test tier (tests/vm).
 *
 *   can_smoke send IFACE ID#HEX          send one CAN_RAW frame
 *   can_smoke recv IFACE TIMEOUT_MS      print the first frame seen as IFACE ID#HEX
 *   can_smoke isotp IFACE SIZE           ISO-TP PDU of SIZE bytes between two sockets
 *   can_smoke state IFACE                libsocketcan state query, "not supported" handled
 *
 * Exit status 0 on success, 1 on a failed check, 2 on bad usage.
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libsocketcan.h>
#include <linux/can.h>
#include <linux/can/isotp.h>
#include <linux/can/netlink.h>
#include <linux/can/raw.h>

static int open_raw(const char *ifname)
{
    struct sockaddr_can addr = {.can_family = AF_CAN};
    int fd = socket(AF_CAN, SOCK_RAW, CAN_RAW);

    if (fd < 0) {
        fprintf(stderr, "can_smoke: socket(AF_CAN, CAN_RAW): %s\n", strerror(errno));
        return -1;
    }
    addr.can_ifindex = (int)if_nametoindex(ifname);
    if (addr.can_ifindex == 0) {
        fprintf(stderr, "can_smoke: %s: no such interface\n", ifname);
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "can_smoke: bind %s: %s\n", ifname, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* cansend's classic-CAN syntax: 3 hex digits = standard id, 8 = extended. */
static int parse_frame(const char *s, struct can_frame *f)
{
    const char *hash = strchr(s, '#');
    char *end;
    unsigned long id;
    size_t n = 0;

    memset(f, 0, sizeof *f);
    if (!hash || (hash - s != 3 && hash - s != 8))
        return -1;
    id = strtoul(s, &end, 16);
    if (end != hash)
        return -1;
    f->can_id = (canid_t)id;
    if (hash - s == 8)
        f->can_id |= CAN_EFF_FLAG;
    for (const char *p = hash + 1; *p; p += 2) {
        int hi = hexval(p[0]), lo = p[1] ? hexval(p[1]) : -1;
        if (hi < 0 || lo < 0 || n == CAN_MAX_DLEN)
            return -1;
        f->data[n++] = (unsigned char)(hi << 4 | lo);
    }
    f->len = (unsigned char)n;
    return 0;
}

static void print_frame(const char *ifname, const struct can_frame *f)
{
    if (f->can_id & CAN_EFF_FLAG)
        printf("%s %08X#", ifname, f->can_id & CAN_EFF_MASK);
    else
        printf("%s %03X#", ifname, f->can_id & CAN_SFF_MASK);
    for (int i = 0; i < f->len && i < CAN_MAX_DLEN; i++)
        printf("%02X", f->data[i]);
    printf("\n");
}

static int cmd_send(const char *ifname, const char *spec)
{
    struct can_frame f;
    int fd;

    if (parse_frame(spec, &f) < 0) {
        fprintf(stderr, "can_smoke: bad frame '%s' (want ID#HEX)\n", spec);
        return 2;
    }
    fd = open_raw(ifname);
    if (fd < 0)
        return 1;
    if (write(fd, &f, sizeof f) != (ssize_t)sizeof f) {
        fprintf(stderr, "can_smoke: write %s: %s\n", ifname, strerror(errno));
        close(fd);
        return 1;
    }
    close(fd);
    return 0;
}

static int cmd_recv(const char *ifname, int timeout_ms)
{
    struct pollfd pfd = {.events = POLLIN};
    struct can_frame f;
    ssize_t n;

    pfd.fd = open_raw(ifname);
    if (pfd.fd < 0)
        return 1;
    if (poll(&pfd, 1, timeout_ms) <= 0) {
        fprintf(stderr, "can_smoke: no frame on %s within %d ms\n", ifname, timeout_ms);
        close(pfd.fd);
        return 1;
    }
    n = read(pfd.fd, &f, sizeof f);
    close(pfd.fd);
    if (n != (ssize_t)sizeof f) {
        fprintf(stderr, "can_smoke: read %s: %s\n", ifname, n < 0 ? strerror(errno) : "short");
        return 1;
    }
    print_frame(ifname, &f);
    return 0;
}

static int open_isotp(const char *ifname, canid_t tx, canid_t rx)
{
    struct sockaddr_can addr = {.can_family = AF_CAN};
    int fd = socket(AF_CAN, SOCK_DGRAM, CAN_ISOTP);

    if (fd < 0) {
        fprintf(stderr, "can_smoke: socket(AF_CAN, CAN_ISOTP): %s\n", strerror(errno));
        return -1;
    }
    addr.can_ifindex = (int)if_nametoindex(ifname);
    addr.can_addr.tp.tx_id = tx;
    addr.can_addr.tp.rx_id = rx;
    if (addr.can_ifindex == 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "can_smoke: bind isotp %s: %s\n", ifname,
                addr.can_ifindex ? strerror(errno) : "no such interface");
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * The kernel runs both ends of the protocol (first frame, flow control,
 * consecutive frames), so one thread can send on A and then read on B.
 */
static int cmd_isotp(const char *ifname, size_t size)
{
    unsigned char *tx = malloc(size), *rx = malloc(size + 1);
    struct pollfd pfd = {.events = POLLIN};
    int a = -1, rc = 1;
    ssize_t n;

    if (!tx || !rx)
        goto out;
    for (size_t i = 0; i < size; i++)
        tx[i] = (unsigned char)(i * 7 + 3);
    a = open_isotp(ifname, 0x7E0, 0x7E8);
    pfd.fd = open_isotp(ifname, 0x7E8, 0x7E0);
    if (a < 0 || pfd.fd < 0)
        goto out;
    n = write(a, tx, size);
    if (n != (ssize_t)size) {
        fprintf(stderr, "can_smoke: isotp write: %s\n", n < 0 ? strerror(errno) : "short");
        goto out;
    }
    if (poll(&pfd, 1, 10000) <= 0) {
        fprintf(stderr, "can_smoke: isotp: no PDU within 10 s\n");
        goto out;
    }
    n = read(pfd.fd, rx, size + 1);
    if (n != (ssize_t)size) {
        fprintf(stderr, "can_smoke: isotp read %zd bytes, want %zu\n", n, size);
        goto out;
    }
    if (memcmp(tx, rx, size) != 0) {
        fprintf(stderr, "can_smoke: isotp PDU differs\n");
        goto out;
    }
    printf("isotp %s: %zu-byte PDU intact\n", ifname, size);
    rc = 0;
out:
    if (a >= 0)
        close(a);
    if (pfd.fd > 0)
        close(pfd.fd);
    free(tx);
    free(rx);
    return rc;
}

/*
 * A virtual CAN interface has no controller, so the kernel reports no
 * IFLA_CAN_STATE and libsocketcan fails the query. Code that shows link
 * health must treat that as "unknown", not as an error or a bus-off.
 */
static int cmd_state(const char *ifname)
{
    static const char *const names[] = {"error-active", "error-warning", "error-passive",
                                        "bus-off",      "stopped",       "sleeping"};
    int state = -1;

    if (if_nametoindex(ifname) == 0) {
        fprintf(stderr, "can_smoke: %s: no such interface\n", ifname);
        return 1;
    }
    if (can_get_state(ifname, &state) != 0) {
        printf("%s: state not supported (no CAN controller behind this interface)\n", ifname);
        return 0;
    }
    if (state >= 0 && state < (int)(sizeof names / sizeof names[0]))
        printf("%s: state %s\n", ifname, names[state]);
    else
        printf("%s: state %d (unknown)\n", ifname, state);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "send") == 0)
        return cmd_send(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "recv") == 0)
        return cmd_recv(argv[2], atoi(argv[3]));
    if (argc == 4 && strcmp(argv[1], "isotp") == 0)
        return cmd_isotp(argv[2], (size_t)strtoul(argv[3], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "state") == 0)
        return cmd_state(argv[2]);
    fprintf(stderr, "usage: can_smoke send IFACE ID#HEX | recv IFACE TIMEOUT_MS |"
                    " isotp IFACE SIZE | state IFACE\n");
    return 2;
}
