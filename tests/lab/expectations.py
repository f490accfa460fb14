#!/usr/bin/env python3
"""Prints what tshark says about each lab capture: the ground truth that
tests/lab_websocket.rs hard-codes and tests/lab/README.md tabulates.

    tests/lab/expectations.py [tests/fixtures/lab/*.pcap]

For each capture: frames, tcp.analysis.retransmission frames (total and per
stream), the frames of every tcp.analysis flag, the WebSocket upgrade request (first copy, as tshark dissects it), its
answer (http.response_in), status, the retransmissions on that stream after
the answer, RST frames on that stream, and the WebSocket frames by opcode.
Needs tshark; reads only.
"""

import collections
import glob
import os
import subprocess
import sys


def tshark(path, display_filter, *fields):
    args = ["tshark", "-2", "-r", path, "-Y", display_filter, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


# The tcp.analysis flags `pcap analyze` reports (CLI.md), by their netkit names.
FLAGS = {
    "retransmission": "tcp.analysis.retransmission",
    "fast_retransmission": "tcp.analysis.fast_retransmission",
    "spurious_retransmission": "tcp.analysis.spurious_retransmission",
    "out_of_order": "tcp.analysis.out_of_order",
    "duplicate_ack": "tcp.analysis.duplicate_ack",
    "lost_segment": "tcp.analysis.lost_segment",
    "zero_window": "tcp.analysis.zero_window",
    "keep_alive": "tcp.analysis.keep_alive",
    "ack_lost_segment": "tcp.analysis.ack_lost_segment",
    "window_update": "tcp.analysis.window_update",
    "window_full": "tcp.analysis.window_full",
    "zero_window_probe": "tcp.analysis.zero_window_probe",
    "keep_alive_ack": "tcp.analysis.keep_alive_ack",
    "reused_ports": "tcp.analysis.reused_ports",
}


def describe(path):
    frames = len(tshark(path, "frame", "frame.number"))
    retrans = tshark(path, "tcp.analysis.retransmission", "frame.number", "tcp.stream")
    per_stream = collections.Counter(int(s) for _, s in retrans)
    requests = tshark(
        path, 'http.request.uri == "/socket"', "frame.number", "tcp.stream", "http.response_in"
    )
    print("%s: %d frames, %d retransmissions, per stream %s" % (
        os.path.basename(path), frames, len(retrans), dict(sorted(per_stream.items()))))
    for name, display_filter in FLAGS.items():
        # Single pass, as tshark -Y counts them (the numbers tests/lab_websocket.rs uses).
        out = subprocess.run(["tshark", "-r", path, "-Y", display_filter, "-T", "fields",
                              "-e", "frame.number"], capture_output=True, text=True, check=True)
        frames = out.stdout.split()
        if frames:
            print("  %s: %s" % (name, ", ".join(frames)))
    for number, stream, response_in in requests:
        status = None
        if response_in:
            status = tshark(path, "frame.number == %s" % response_in, "http.response.code")[0][0]
        copies = [n for n, s in retrans if s == stream]
        anchor = int(response_in or number)
        after = [n for n in copies if int(n) > anchor]
        rst = [r[0] for r in tshark(path, "tcp.stream == %s && tcp.flags.reset == 1" % stream,
                                     "frame.number")]
        ws = collections.Counter(
            r[0] for r in tshark(path, "tcp.stream == %s && websocket" % stream, "websocket.opcode"))
        close = [r[0] for r in tshark(path, "tcp.stream == %s && websocket.opcode == 8" % stream,
                                       "websocket.payload.close.status_code")]
        print("  upgrade: stream %s request %s response %s status %s; retransmissions on the "
              "stream %s, after the answer %s; rst %s; websocket opcodes %s close codes %s" % (
                  stream, number, response_in or None, status, copies, after, rst,
                  dict(ws), close))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    files = sys.argv[1:] or sorted(glob.glob(os.path.join(here, "..", "fixtures", "lab", "*.pcap")))
    for path in files:
        describe(path)


if __name__ == "__main__":
    main()
