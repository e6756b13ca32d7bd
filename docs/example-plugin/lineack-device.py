#!/usr/bin/env python3
"""A device speaking lineack (see lineack.c) on a pseudo-terminal.

usage: lineack-device.py LINK OUT [--bad-sum]

Creates a pty, makes LINK a symlink to its slave side (the path a config's
link uses), serves load sessions until killed, and writes each received image
to OUT. --bad-sum answers with a wrong sum, to see the host refuse it.
"""
import os
import sys
import tty


def read_line(fd):
    line = b""
    while not line.endswith(b"\n"):
        b = os.read(fd, 1)
        if not b:
            raise EOFError
        line += b
    return line[:-1].decode()


def read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def main():
    link, out = sys.argv[1], sys.argv[2]
    bad_sum = "--bad-sum" in sys.argv[3:]
    # Keeping the slave side open too means the master never reads EOF or
    # EIO when the host closes the port between jobs.
    master, slave = os.openpty()
    tty.setraw(slave)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(os.ttyname(slave), link)
    while True:
        cmd = read_line(master)
        if not cmd.startswith("LOAD "):
            continue
        os.write(master, b"READY\n")
        data = read_exact(master, int(cmd[5:]))
        with open(out + ".tmp", "wb") as f:
            f.write(data)
        os.rename(out + ".tmp", out)
        total = (sum(data) + (1 if bad_sum else 0)) & 0xFFFFFFFF
        os.write(master, ("OK %08x\n" % total).encode())


if __name__ == "__main__":
    main()
