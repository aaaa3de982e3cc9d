#!/usr/bin/env python3
"""Generates DMA traces in iovsim's input format (contract.md section 4).

    python3 traces/gen.py nic     [--vfs 4] [--packets 250] ...      > nic.csv
    python3 traces/gen.py random  [--requests 2000] [--rids 2] ...   > random.csv
    python3 traces/gen.py strided [--requests 2000] [--stride 4160] ... > strided.csv

Each pattern is deterministic for a given --seed. The output starts with '#' comment lines giving
the command that made it. Python standard library only. traces/samples/README.md documents the
shipped samples.
"""

import argparse
import random
import sys

MAX_SIZE = 4096


def rid_text(rid):
    return "%02x:%02x.%x" % (rid >> 8, (rid >> 3) & 0x1F, rid & 7)


def parse_rid(text):
    """BB:DD.F (hex) or an integer, as the reader accepts."""
    if ":" in text:
        bus, rest = text.split(":")
        dev, fn = rest.split(".")
        return (int(bus, 16) << 8) | (int(dev, 16) << 3) | int(fn, 16)
    return int(text, 0)


def parse_size(text):
    """An integer with an optional K/M/G suffix (binary multiples)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1].upper() in units:
        return int(text[:-1], 0) * units[text[-1].upper()]
    return int(text, 0)


def nic(args, rng):
    """RX traffic of SR-IOV virtual functions: per packet, the VF reads its next receive descriptor,
    writes the packet into the buffer the descriptor points to, then writes the descriptor back.

    Each VF has its own I/O address space (its own domain), laid out the same way: a ring of
    --ring 16-byte descriptors at --ring-base, one --buffer-bytes buffer per ring entry from
    --buffer-base. Packets arrive on each VF at --gbps (per VF) with +-10 % jitter; VFs start at
    random offsets within one packet time. Requester ids: --first-vf plus --vf-stride per VF (the
    SR-IOV First VF Offset / VF Stride of a PF at 01:00.0)."""
    rows = []
    pkt_ns = args.packet_bytes * 8 / args.gbps
    for v in range(args.vfs):
        rid = args.first_vf + v * args.vf_stride
        t = rng.uniform(0, pkt_ns)
        for i in range(args.packets):
            slot = i % args.ring
            desc = args.ring_base + 16 * slot
            buf = args.buffer_base + args.buffer_bytes * slot
            rows.append((t, rid, desc, 16, "R"))
            # The data follows once the descriptor is back (~ a read round trip).
            rows.append((t + args.fetch_ns, rid, buf, args.packet_bytes, "W"))
            rows.append((t + args.fetch_ns + args.write_ns, rid, desc, 16, "W"))
            t += pkt_ns * rng.uniform(0.9, 1.1)
    return rows


def random_pattern(args, rng):
    """Uniform random requests of --size bytes (aligned to it) in a --window-byte window at
    --base, from --rids requesters (01:00.0, 01:00.1, ...), writes with probability
    --write-fraction, Poisson arrivals with mean gap --gap-ns."""
    rows = []
    slots = args.window // args.size
    t = 0.0
    for _ in range(args.requests):
        rid = args.first_rid + rng.randrange(args.rids)
        iova = args.base + rng.randrange(slots) * args.size
        rows.append((t, rid, iova, args.size, "W" if rng.random() < args.write_fraction else "R"))
        t += rng.expovariate(1.0 / args.gap_ns)
    return rows


def strided(args, rng):
    """One requester walking a --window-byte window at --base with a fixed --stride (wrapping),
    a --size-byte read every --gap-ns. A stride just above 4 KiB touches a new page each request,
    the pattern that defeats a small IOTLB."""
    del rng  # deterministic without it
    rows = []
    for i in range(args.requests):
        offset = min((i * args.stride) % args.window, args.window - args.size)
        rows.append((i * args.gap_ns, args.first_rid, args.base + offset, args.size, "R"))
    return rows


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="pattern", required=True)

    def common(sp):
        sp.add_argument("--seed", type=int, default=1)
        sp.add_argument("-o", "--out", help="output file (default: stdout)")

    sp = sub.add_parser("nic", help=nic.__doc__.split("\n")[0])
    common(sp)
    sp.add_argument("--vfs", type=int, default=4)
    sp.add_argument("--packets", type=int, default=250, help="packets per VF")
    sp.add_argument("--packet-bytes", type=int, default=1514)
    sp.add_argument("--gbps", type=float, default=10.0, help="arrival rate per VF")
    sp.add_argument("--ring", type=int, default=256, help="descriptors per ring")
    sp.add_argument("--ring-base", type=parse_size, default=0x10000)
    sp.add_argument("--buffer-base", type=parse_size, default=0x100000)
    sp.add_argument("--buffer-bytes", type=int, default=2048)
    sp.add_argument("--first-vf", type=parse_rid, default=parse_rid("01:10.0"))
    sp.add_argument("--vf-stride", type=int, default=2)
    sp.add_argument("--fetch-ns", type=float, default=600.0)
    sp.add_argument("--write-ns", type=float, default=300.0)

    sp = sub.add_parser("random", help=random_pattern.__doc__.split("\n")[0])
    common(sp)
    sp.add_argument("--requests", type=int, default=2000)
    sp.add_argument("--rids", type=int, default=2)
    sp.add_argument("--first-rid", type=parse_rid, default=parse_rid("01:00.0"))
    sp.add_argument("--base", type=parse_size, default=1 << 32)
    sp.add_argument("--window", type=parse_size, default=16 << 20)
    sp.add_argument("--size", type=int, default=64)
    sp.add_argument("--write-fraction", type=float, default=0.3)
    sp.add_argument("--gap-ns", type=float, default=20.0)

    sp = sub.add_parser("strided", help=strided.__doc__.split("\n")[0])
    common(sp)
    sp.add_argument("--requests", type=int, default=2000)
    sp.add_argument("--first-rid", type=parse_rid, default=parse_rid("01:00.0"))
    sp.add_argument("--base", type=parse_size, default=1 << 32)
    sp.add_argument("--window", type=parse_size, default=1 << 20)
    sp.add_argument("--stride", type=parse_size, default=4096 + 64)
    sp.add_argument("--size", type=int, default=64)
    sp.add_argument("--gap-ns", type=float, default=20.0)

    args = p.parse_args(argv[1:])
    size = getattr(args, "size", None) or getattr(args, "packet_bytes", None)
    if not 1 <= size <= MAX_SIZE:
        p.error("request size must be 1..%d bytes" % MAX_SIZE)
    if args.pattern != "nic" and args.window < size:
        p.error("--window is smaller than --size")
    rng = random.Random(args.seed)
    rows = {"nic": nic, "random": random_pattern, "strided": strided}[args.pattern](args, rng)
    rows.sort(key=lambda r: r[0])  # stable: rows at one time keep their order

    shown = []  # the command line without the output file
    skip = False
    for a in argv[1:]:
        if skip or a in ("-o", "--out") or a.startswith("--out="):
            skip = not skip and a in ("-o", "--out")
            continue
        shown.append(a)
    out = open(args.out, "w") if args.out else sys.stdout
    out.write("# generated by: python3 traces/gen.py %s\n" % " ".join(shown))
    out.write("# %s pattern, %d requests; see traces/samples/README.md\n" % (args.pattern, len(rows)))
    out.write("time_ns,rid,iova,size,dir\n")
    for t, rid, iova, nbytes, d in rows:
        time = ("%.3f" % t).rstrip("0").rstrip(".")
        out.write("%s,%s,0x%x,%d,%s\n" % (time, rid_text(rid), iova, nbytes, d))
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main(sys.argv)
