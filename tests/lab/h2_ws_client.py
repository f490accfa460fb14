#!/usr/bin/env python3
"""HTTP/2 cleartext client (prior knowledge) for the RFC 8441 lab.

Waits for the server's SETTINGS_ENABLE_CONNECT_PROTOCOL, then opens one stream
as an extended CONNECT to /chat (answered 200: one masked WebSocket text frame
each way) and the next to /forbidden (answered 403), then sends GOAWAY. With
the argument `h2c` it starts with an HTTP/1.1 `Upgrade: h2c` GET (stream 1), so
the CONNECTs are streams 3 and 5; otherwise they are streams 1 and 3.
"""
import os
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def ws_text_masked(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def connect_headers(path: str):
    return [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "lab.example:%s" % sys.argv[1]),
        ("sec-websocket-version", "13"),
    ]


def main() -> None:
    port = int(sys.argv[1])
    upgrade = len(sys.argv) > 2 and sys.argv[2] == "h2c"
    sock = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    if upgrade:
        settings = conn.initiate_upgrade_connection()
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: lab.example:%d\r\n"
            b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: %s\r\n\r\n" % (port, settings)
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        first = 3
    else:
        conn.initiate_connection()
        first = 1
    sock.sendall(conn.data_to_send())

    def pump(until):
        while True:
            data = sock.recv(65535)
            if not data:
                raise SystemExit("server closed early")
            for ev in conn.receive_data(data):
                sock.sendall(conn.data_to_send())
                if until(ev):
                    return ev

    pump(lambda ev: isinstance(ev, h2.events.RemoteSettingsChanged))
    sock.sendall(conn.data_to_send())

    def response(stream):
        return pump(
            lambda ev: isinstance(ev, h2.events.ResponseReceived)
            and ev.stream_id == stream
        )

    conn.send_headers(first, connect_headers("/chat"))
    sock.sendall(conn.data_to_send())
    resp = response(first)
    assert dict(resp.headers)[b":status"] == b"200", resp.headers
    conn.send_data(first, ws_text_masked(b"hello"))
    sock.sendall(conn.data_to_send())
    pump(lambda ev: isinstance(ev, h2.events.DataReceived) and ev.stream_id == first)

    conn.send_headers(first + 2, connect_headers("/forbidden"))
    sock.sendall(conn.data_to_send())
    resp = response(first + 2)
    assert dict(resp.headers)[b":status"] == b"403", resp.headers

    # NKLAB_HOLD_S: keep the connection open a moment, as a real client would, so a
    # live observer can find the process behind it (the recordings use 0).
    time.sleep(float(os.environ.get("NKLAB_HOLD_S", "0")))
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    print("client: /chat 200, /forbidden 403")


if __name__ == "__main__":
    main()
