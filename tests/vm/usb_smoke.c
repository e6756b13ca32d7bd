/*
 * usb_smoke: finds the test gadget (tests/vm/usb_gadget.c) with libusb by
 * VID:PID, then again by its port path, and talks to it with vendor control
 * transfers, for the kernel test tier.
 *
 *   usb_smoke VID:PID [WAIT_SECONDS]
 *
 * Prints "path BUS-PORT[.PORT...]" and one line per check; exit 0 if all pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libusb.h>

static int port_path(libusb_device *dev, char *out, size_t size)
{
    uint8_t ports[8];
    int n = libusb_get_port_numbers(dev, ports, (int)sizeof ports);
    size_t len;

    if (n <= 0)
        return -1;
    len = (size_t)snprintf(out, size, "%u-", libusb_get_bus_number(dev));
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, i ? ".%u" : "%u", ports[i]);
    return 0;
}

/* First device matching VID:PID (path == NULL) or port path (vid/pid ignored). */
static libusb_device *find(libusb_context *ctx, unsigned vid, unsigned pid, const char *path)
{
    libusb_device **list, *found = NULL;
    ssize_t n = libusb_get_device_list(ctx, &list);

    for (ssize_t i = 0; i < n && !found; i++) {
        struct libusb_device_descriptor d;
        char p[64];

        if (path) {
            if (port_path(list[i], p, sizeof p) == 0 && strcmp(p, path) == 0)
                found = libusb_ref_device(list[i]);
        } else if (libusb_get_device_descriptor(list[i], &d) == 0 && d.idVendor == vid &&
                   d.idProduct == pid) {
            found = libusb_ref_device(list[i]);
        }
    }
    if (n >= 0)
        libusb_free_device_list(list, 1);
    return found;
}

static int failed;

static void check(int ok, const char *what)
{
    printf("%s - %s\n", ok ? "ok" : "not ok", what);
    if (!ok)
        failed = 1;
}

int main(int argc, char **argv)
{
    unsigned vid, pid;
    int wait_s = argc > 2 ? atoi(argv[2]) : 20;
    libusb_context *ctx = NULL;
    libusb_device *dev = NULL, *again;
    libusb_device_handle *h;
    char path[64], buf[256], want[64];
    unsigned char back[64];
    int r;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2 || sscanf(argv[1], "%x:%x", &vid, &pid) != 2) {
        fprintf(stderr, "usage: usb_smoke VID:PID [WAIT_SECONDS]\n");
        return 2;
    }
    /*
     * No udev daemon runs in the guest, so libusb learns of new devices only
     * by enumerating at init: re-initialise until the gadget shows up.
     */
    for (int tries = 0; tries <= wait_s * 5; tries++) {
        if (libusb_init(&ctx) != 0) {
            fprintf(stderr, "usb_smoke: libusb_init failed\n");
            return 1;
        }
        dev = find(ctx, vid, pid, NULL);
        if (dev)
            break;
        libusb_exit(ctx);
        ctx = NULL;
        usleep(200000);
    }
    check(dev != NULL, "device found by VID:PID");
    if (!dev)
        return 1;
    check(port_path(dev, path, sizeof path) == 0, "port path");
    printf("path %s\n", path);
    again = find(ctx, 0, 0, path);
    check(again == dev, "same device found by port path");
    if (again)
        libusb_unref_device(again);

    r = libusb_open(dev, &h);
    check(r == 0, "open");
    if (r != 0) {
        fprintf(stderr, "usb_smoke: libusb_open: %s\n", libusb_strerror(r));
        return 1;
    }
    r = libusb_get_string_descriptor_ascii(h, 2, (unsigned char *)buf, sizeof buf);
    check(r > 0 && strcmp(buf, "fwupgw test gadget") == 0, "product string");

    r = libusb_control_transfer(h, LIBUSB_ENDPOINT_IN | LIBUSB_REQUEST_TYPE_VENDOR, 0x01, 0x1234,
                                0x0005, (unsigned char *)buf, sizeof buf - 1, 2000);
    buf[r > 0 ? r : 0] = '\0';
    snprintf(want, sizeof want, "fwupgw-gadget v=1234 i=0005");
    check(r > 0 && strcmp(buf, want) == 0, "vendor IN request answered");
    printf("# reply \"%s\"\n", buf);

    /*
     * No data stage: gadgetfs makes the host wait for the gadget's ack. (An
     * OUT data stage completes in the kernel before user space reads it, so
     * it is not used here; see usb_gadget.c.)
     */
    r = libusb_control_transfer(h, LIBUSB_ENDPOINT_OUT | LIBUSB_REQUEST_TYPE_VENDOR, 0x02, 0xBEEF,
                                0x0042, NULL, 0, 2000);
    check(r == 0, "vendor OUT request acknowledged");
    r = libusb_control_transfer(h, LIBUSB_ENDPOINT_IN | LIBUSB_REQUEST_TYPE_VENDOR, 0x03, 0, 0,
                                back, sizeof back, 2000);
    check(r == 4 && memcmp(back, "\xEF\xBE\x42\x00", 4) == 0, "vendor IN returns what OUT set");

    r = libusb_control_transfer(h, LIBUSB_ENDPOINT_IN | LIBUSB_REQUEST_TYPE_VENDOR, 0x7F, 0, 0,
                                back, sizeof back, 2000);
    check(r == LIBUSB_ERROR_PIPE, "unknown vendor request stalls");

    libusb_close(h);
    libusb_unref_device(dev);
    libusb_exit(ctx);
    return failed;
}
