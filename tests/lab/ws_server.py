#!/usr/bin/env python3
"""A small HTTP/1.1 + WebSocket (RFC 6455) echo server, standard library only.

It is the backend behind HAProxy in haproxy-websocket.sh. Plain requests get a
short answer (POST bodies are read and acknowledged, GET /data returns some
bytes) so background traffic has something to carry. An upgrade request gets
101 Switching Protocols and the server echoes text frames until a close frame.

--bad-accept makes it answer the upgrade with a wrong Sec-WebSocket-Accept, the
way a broken server or middlebox would; the client then has to fail the
connection (RFC 6455 section 4.1).

Every blocking call has a timeout so no thread outlives the lab run.
"""

import argparse
import base64
import hashlib
import socket
import struct
import threading

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
IO_TIMEOUT_S = 15.0
MAX_HEADER_BYTES = 16384
MAX_BODY_BYTES = 1 << 20


def accept_for(key):
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def read_head(conn, buf):
    """Returns (head, rest) once a full header block is in, or (None, buf) on EOF."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEADER_BYTES:
            return None, buf
        chunk = conn.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def parse_head(head):
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    method, target = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


def recv_exact(conn, n, buf):
    while len(buf) < n:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("peer closed mid-frame")
        buf += chunk
    return buf[:n], buf[n:]


def send_frame(conn, opcode, payload):
    # Server frames are never masked (RFC 6455 section 5.1).
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    conn.sendall(head + payload)


def websocket_echo(conn, buf):
    while True:
        hdr, buf = recv_exact(conn, 2, buf)
        opcode = hdr[0] & 0x0F
        masked = hdr[1] & 0x80
        n = hdr[1] & 0x7F
        if n == 126:
            ext, buf = recv_exact(conn, 2, buf)
            n = struct.unpack("!H", ext)[0]
        elif n == 127:
            ext, buf = recv_exact(conn, 8, buf)
            n = struct.unpack("!Q", ext)[0]
        if n > MAX_BODY_BYTES or not masked:
            # A client frame must be masked; refuse with 1002 (protocol error).
            send_frame(conn, 0x8, struct.pack("!H", 1002))
            return
        mask, buf = recv_exact(conn, 4, buf)
        data, buf = recv_exact(conn, n, buf)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        if opcode == 0x8:
            code = payload[:2] if len(payload) >= 2 else struct.pack("!H", 1000)
            send_frame(conn, 0x8, code)
            return
        if opcode == 0x9:
            send_frame(conn, 0xA, payload)
        elif opcode in (0x1, 0x2):
            send_frame(conn, opcode, payload)


def handle(conn, bad_accept):
    conn.settimeout(IO_TIMEOUT_S)
    buf = b""
    try:
        while True:
            head, buf = read_head(conn, buf)
            if head is None:
                return
            method, target, headers = parse_head(head)
            length = int(headers.get("content-length", "0") or "0")
            if length > MAX_BODY_BYTES:
                return
            body, buf = recv_exact(conn, length, buf)
            is_upgrade = (
                "websocket" in headers.get("upgrade", "").lower()
                and "upgrade" in headers.get("connection", "").lower()
            )
            if is_upgrade:
                accept = accept_for(headers.get("sec-websocket-key", ""))
                if bad_accept:
                    # A plausible-looking but wrong value: the hash of the key alone.
                    accept = base64.b64encode(
                        hashlib.sha1(headers.get("sec-websocket-key", "").encode()).digest()
                    ).decode("ascii")
                conn.sendall(
                    (
                        "HTTP/1.1 101 Switching Protocols\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: " + accept + "\r\n\r\n"
                    ).encode("ascii")
                )
                websocket_echo(conn, buf)
                return
            if method == "GET" and target.startswith("/data"):
                answer = b"d" * 3000
            else:
                answer = ("received %d bytes for %s\n" % (len(body), target)).encode()
            close = headers.get("connection", "").lower() == "close"
            conn.sendall(
                (
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    "Content-Length: %d\r\n%s\r\n"
                    % (len(answer), "Connection: close\r\n" if close else "")
                ).encode("ascii")
                + answer
            )
            if close:
                return
    except (OSError, ConnectionError, ValueError):
        return
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bad-accept", action="store_true")
    args = parser.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.listen, args.port))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn, args.bad_accept), daemon=True).start()


if __name__ == "__main__":
    main()
