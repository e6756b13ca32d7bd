/*
 * usb_gadget: a minimal USB device on gadgetfs, for the kernel test tier.
 *
 *   usb_gadget [-v VID:PID] [UDC_FILE]
 *
 * Presents one configuration with one DFU-mode interface (class FE/01/02 plus
 * a DFU functional descriptor, so dfu-util -l lists it) and answers:
 *   vendor IN  0x01: "fwupgw-gadget v=WVALUE i=WINDEX"
 *   vendor OUT 0x02: stores wValue, wIndex (LE) if there is no data stage,
 *                    else up to 64 data bytes (see the race noted below)
 *   vendor IN  0x03: returns the stored bytes
 * Anything else is stalled. Runs until SIGTERM/SIGINT; closing ep0 is a
 * disconnect. UDC_FILE defaults to the first controller in /dev/gadget.
 *
 * gadgetfs contract (drivers/usb/gadget/legacy/inode.c): write tag 0, the
 * full-speed and high-speed configuration descriptors and the device
 * descriptor to the UDC file, then read events; after a SETUP event, write()
 * answers an IN request, read() collects an OUT request's data or acks it
 * (length 0), and the wrong direction stalls.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/usb/ch9.h>
#include <linux/usb/gadgetfs.h>

#define CONFIG_LEN (USB_DT_CONFIG_SIZE + USB_DT_INTERFACE_SIZE + 9)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static const char *const strings[] = {NULL, "fwupgw", "fwupgw test gadget", "0001",
                                      "fwupgw test alt 0"};

static size_t put_config(uint8_t *p)
{
    static const uint8_t config[CONFIG_LEN] = {
        /* configuration: one interface, self-powered, value 1 */
        USB_DT_CONFIG_SIZE, USB_DT_CONFIG, CONFIG_LEN, 0, 1, 1, 0, USB_CONFIG_ATT_ONE, 50,
        /* interface 0 alt 0: DFU mode (FE/01/02), no endpoints, string 4 */
        USB_DT_INTERFACE_SIZE, USB_DT_INTERFACE, 0, 0, 0, 0xFE, 0x01, 0x02, 4,
        /* DFU functional: download+upload+will-detach, 1 s detach, 1024-byte blocks, 1.1 */
        9, 0x21, 0x0B, 0xE8, 0x03, 0x00, 0x04, 0x10, 0x01};
    memcpy(p, config, sizeof config);
    return sizeof config;
}

static size_t put_device(uint8_t *p, uint16_t vid, uint16_t pid)
{
    struct usb_device_descriptor d = {
        .bLength = USB_DT_DEVICE_SIZE,
        .bDescriptorType = USB_DT_DEVICE,
        .bcdUSB = htole16(0x0200),
        .bMaxPacketSize0 = 64, /* gadgetfs overwrites it with the UDC's */
        .idVendor = htole16(vid),
        .idProduct = htole16(pid),
        .bcdDevice = htole16(0x0100),
        .iManufacturer = 1,
        .iProduct = 2,
        .iSerialNumber = 3,
        .bNumConfigurations = 1,
    };
    memcpy(p, &d, USB_DT_DEVICE_SIZE);
    return USB_DT_DEVICE_SIZE;
}

/* String descriptor idx (0 = language list) into buf; 0 if there is none. */
static size_t string_desc(unsigned idx, uint8_t *buf)
{
    size_t n = 2;

    if (idx == 0) {
        buf[n++] = 0x09; /* en-US */
        buf[n++] = 0x04;
    } else if (idx < sizeof strings / sizeof strings[0]) {
        for (const char *s = strings[idx]; *s; s++) {
            buf[n++] = (uint8_t)*s; /* ASCII to UTF-16LE */
            buf[n++] = 0;
        }
    } else {
        return 0;
    }
    buf[0] = (uint8_t)n;
    buf[1] = USB_DT_STRING;
    return n;
}

static int find_udc(char *path, size_t size)
{
    DIR *d = opendir("/dev/gadget");
    struct dirent *e;
    int found = -1;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "ep", 2) == 0)
            continue;
        snprintf(path, size, "/dev/gadget/%s", e->d_name);
        found = 0;
        break;
    }
    closedir(d);
    return found;
}

static void stall(int fd, const struct usb_ctrlrequest *r)
{
    /* The wrong direction stalls: gadgetfs answers with -EL2HLT. */
    if (r->bRequestType & USB_DIR_IN)
        (void)!read(fd, NULL, 0);
    else
        (void)!write(fd, NULL, 0);
}

static void reply(int fd, const void *data, size_t len, unsigned wlength)
{
    if (len > wlength)
        len = wlength;
    if (write(fd, data, len) < 0)
        fprintf(stderr, "usb_gadget: ep0 write: %s\n", strerror(errno));
}

static void ack(int fd)
{
    if (read(fd, NULL, 0) < 0)
        fprintf(stderr, "usb_gadget: ep0 ack: %s\n", strerror(errno));
}

static void handle_setup(int fd, const struct usb_ctrlrequest *r)
{
    static uint8_t stored[64];
    static size_t stored_len;
    unsigned value = le16toh(r->wValue), index = le16toh(r->wIndex);
    unsigned length = le16toh(r->wLength);
    uint8_t buf[256];
    size_t n;

    switch (r->bRequestType << 8 | r->bRequest) {
    case (USB_DIR_IN | USB_TYPE_STANDARD) << 8 | USB_REQ_GET_DESCRIPTOR:
        if (value >> 8 == USB_DT_STRING && (n = string_desc(value & 0xFF, buf)) > 0)
            reply(fd, buf, n, length);
        else
            stall(fd, r);
        return;
    case USB_REQ_SET_CONFIGURATION: /* bRequestType 0; gadgetfs forbids stalling it */
        printf("usb_gadget: configuration %u\n", value);
        ack(fd);
        return;
    case (USB_RECIP_INTERFACE << 8) | USB_REQ_SET_INTERFACE:
        printf("usb_gadget: interface %u alt %u\n", index, value);
        ack(fd);
        return;
    case (USB_DIR_IN | USB_TYPE_VENDOR) << 8 | 0x01:
        n = (size_t)snprintf((char *)buf, sizeof buf, "fwupgw-gadget v=%04x i=%04x", value, index);
        printf("usb_gadget: vendor hello\n");
        reply(fd, buf, n, length);
        return;
    case (USB_DIR_OUT | USB_TYPE_VENDOR) << 8 | 0x02:
        if (length == 0) {
            /* No data stage: the host waits for this ack, so it is ordered. */
            stored[0] = (uint8_t)value;
            stored[1] = (uint8_t)(value >> 8);
            stored[2] = (uint8_t)index;
            stored[3] = (uint8_t)(index >> 8);
            stored_len = 4;
            ack(fd);
        } else if (length <= sizeof stored) {
            /*
             * gadgetfs has already received the data and the host has seen
             * the transfer complete; a SETUP that arrives before we read this
             * event replaces it (inode.c next_event), so the data can be lost.
             */
            ssize_t got = read(fd, stored, length);
            stored_len = got > 0 ? (size_t)got : 0;
        } else {
            stall(fd, r);
            return;
        }
        printf("usb_gadget: vendor store %zu bytes\n", stored_len);
        return;
    case (USB_DIR_IN | USB_TYPE_VENDOR) << 8 | 0x03:
        reply(fd, stored, stored_len, length);
        return;
    default:
        printf("usb_gadget: stall %02x/%02x\n", r->bRequestType, r->bRequest);
        stall(fd, r);
    }
}

int main(int argc, char **argv)
{
    uint8_t desc[4 + 2 * CONFIG_LEN + USB_DT_DEVICE_SIZE], *p = desc;
    unsigned vid = 0x1209, pid = 0x0001;
    char udc[300];
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: read() must return */
    int opt, fd;

    setvbuf(stdout, NULL, _IOLBF, 0);
    while ((opt = getopt(argc, argv, "v:")) != -1) {
        if (opt != 'v' || sscanf(optarg, "%x:%x", &vid, &pid) != 2) {
            fprintf(stderr, "usage: usb_gadget [-v VID:PID] [UDC_FILE]\n");
            return 2;
        }
    }
    if (optind < argc)
        snprintf(udc, sizeof udc, "%s", argv[optind]);
    else if (find_udc(udc, sizeof udc) < 0) {
        fprintf(stderr, "usb_gadget: no UDC in /dev/gadget (is gadgetfs mounted?)\n");
        return 1;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    fd = open(udc, O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "usb_gadget: open %s: %s\n", udc, strerror(errno));
        return 1;
    }
    memset(p, 0, 4); /* format tag 0 */
    p += 4;
    p += put_config(p); /* full speed */
    p += put_config(p); /* high speed: dummy_hcd connects at high speed */
    p += put_device(p, (uint16_t)vid, (uint16_t)pid);
    if (write(fd, desc, (size_t)(p - desc)) != p - desc) {
        fprintf(stderr, "usb_gadget: descriptors refused by %s: %s\n", udc, strerror(errno));
        close(fd);
        return 1;
    }
    printf("usb_gadget: %04x:%04x on %s\n", vid, pid, udc);

    while (!stop) {
        struct usb_gadgetfs_event ev[8];
        ssize_t n = read(fd, ev, sizeof ev);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "usb_gadget: event read: %s\n", strerror(errno));
            break;
        }
        for (size_t i = 0; i < (size_t)n / sizeof ev[0]; i++) {
            switch (ev[i].type) {
            case GADGETFS_CONNECT:
                printf("usb_gadget: connect, speed %d\n", (int)ev[i].u.speed);
                break;
            case GADGETFS_DISCONNECT:
                printf("usb_gadget: disconnect\n");
                break;
            case GADGETFS_SETUP:
                handle_setup(fd, &ev[i].u.setup);
                break;
            default:
                break;
            }
        }
    }
    close(fd);
    printf("usb_gadget: closed\n");
    return stop ? 0 : 1;
}
