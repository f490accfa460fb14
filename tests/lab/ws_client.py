#!/usr/bin/env python3
"""Lab client: background HTTP noise plus one WebSocket upgrade, standard library only.

Background threads send POST bodies and GET /data through the proxy so the
random packet loss on the proxy's inbound side makes Linux retransmit on many
connections. In the middle of that traffic one thread sends the upgrade
request `GET /socket` with a fresh random Sec-WebSocket-Key (RFC 6455 section
4.1), checks the answer, and when it gets a valid 101 exchanges a few masked
text messages and a clean close (code 1000).

Every loop is bounded by a count and every socket by a timeout, so the client
always ends. It prints one line per event and exits 0; the capture, not the
exit status, is the product.
"""

import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import threading
import time

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def log(msg):
    sys.stdout.write("client: %s\n" % msg)
    sys.stdout.flush()


def read_response_head(sock, timeout_s):
    sock.settimeout(timeout_s)
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < 65536:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def header(head, name):
    for line in head.split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def background(host, port, index, upload_bytes, rounds, deadline):
    """Keep-alive requests on one connection: uploads and downloads."""
    try:
        sock = socket.create_connection((host, port), timeout=8)
        for r in range(rounds):
            if time.monotonic() > deadline:
                break
            body = bytes((index + r + i) % 26 + 97 for i in range(upload_bytes))
            req = (
                "POST /upload/%d/%d HTTP/1.1\r\nHost: lab.example\r\n"
                "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                % (index, r, len(body))
            ).encode("ascii") + body
            sock.sendall(req)
            head, rest = read_response_head(sock, 8)
            length = int(header(head, "content-length") or "0")
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            sock.sendall(b"GET /data HTTP/1.1\r\nHost: lab.example\r\n\r\n")
            head, rest = read_response_head(sock, 8)
            length = int(header(head, "content-length") or "0")
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        sock.close()
        log("background %d done" % index)
    except (OSError, ValueError) as err:
        log("background %d: %s" % (index, err))


def masked_frame(opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def recv_frame(sock, buf):
    def need(n, buf):
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    buf = need(2, buf)
    opcode, n, off = buf[0] & 0x0F, buf[1] & 0x7F, 2
    if n == 126:
        buf = need(4, buf)
        n, off = struct.unpack("!H", buf[2:4])[0], 4
    elif n == 127:
        buf = need(10, buf)
        n, off = struct.unpack("!Q", buf[2:10])[0], 10
    buf = need(off + n, buf)
    return opcode, buf[off : off + n], buf[off + n :]


def upgrade(host, port, messages, message_bytes, answer_timeout_s):
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    sock = socket.create_connection((host, port), timeout=8)
    sock.sendall(
        (
            "GET /socket HTTP/1.1\r\nHost: lab.example\r\n"
            "User-Agent: netkit-lab/1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
            "Origin: http://lab.example\r\n\r\n" % key
        ).encode("ascii")
    )
    log("upgrade sent, key %s" % key)
    try:
        head, rest = read_response_head(sock, answer_timeout_s)
    except socket.timeout:
        log("upgrade: no answer in %.1f s, giving up" % answer_timeout_s)
        sock.close()
        return
    except OSError as err:
        log("upgrade: %s" % err)
        sock.close()
        return
    if not head:
        log("upgrade: connection closed without an answer")
        sock.close()
        return
    status = head.split("\r\n")[0]
    log("upgrade answer: %s" % status)
    if " 101 " not in status + " ":
        length = int(header(head, "content-length") or "0")
        sock.settimeout(3)
        try:
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        except OSError:
            pass
        sock.close()
        return
    got = header(head, "sec-websocket-accept")
    if got != want:
        # RFC 6455 4.1: the client must _Fail the WebSocket Connection_, no close frame.
        log("upgrade: Sec-WebSocket-Accept %s, expected %s: failing the connection" % (got, want))
        sock.close()
        return
    sock.settimeout(8)
    buf = rest
    try:
        for i in range(messages):
            text = ("message %d " % i).encode() + b"x" * message_bytes
            sock.sendall(masked_frame(0x1, text))
            opcode, payload, buf = recv_frame(sock, buf)
            log("echo %d: opcode %d, %d bytes, %s" % (i, opcode, len(payload), payload == text))
        sock.sendall(masked_frame(0x8, struct.pack("!H", 1000) + b"done"))
        opcode, payload, buf = recv_frame(sock, buf)
        log("close answered: opcode %d code %s" % (opcode, payload[:2].hex()))
    except (OSError, ConnectionError) as err:
        log("websocket: %s" % err)
    sock.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--background", type=int, default=8)
    p.add_argument("--upload-bytes", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--messages", type=int, default=4)
    p.add_argument("--message-bytes", type=int, default=3000)
    p.add_argument("--answer-timeout", type=float, default=4.0)
    p.add_argument("--upgrade-delay", type=float, default=0.15)
    args = p.parse_args()
    deadline = time.monotonic() + 20
    threads = [
        threading.Thread(
            target=background,
            args=(args.host, args.port, i, args.upload_bytes, args.rounds, deadline),
            daemon=True,
        )
        for i in range(args.background)
    ]
    for t in threads:
        t.start()
    # The upgrade starts while the noise is in flight, as in the motivating capture.
    time.sleep(args.upgrade_delay)
    upgrade(args.host, args.port, args.messages, args.message_bytes, args.answer_timeout)
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))


if __name__ == "__main__":
    main()
