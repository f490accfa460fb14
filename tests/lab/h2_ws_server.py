#!/usr/bin/env python3
"""HTTP/2 cleartext server (prior knowledge) for the RFC 8441 lab.

Advertises SETTINGS_ENABLE_CONNECT_PROTOCOL=1, accepts an extended CONNECT to
/chat with 200 and echoes one WebSocket text frame, refuses anything else with
403. Serves one connection, then exits. The client may start with the HTTP/2
preface (prior knowledge) or with an HTTP/1.1 `Upgrade: h2c` request, which is
answered 101 and becomes stream 1.
"""
import socket
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings

ENABLE_CONNECT_PROTOCOL = 0x8


def ws_text(payload: bytes) -> bytes:
    # Server frames are unmasked (RFC 6455 5.1); payloads here stay under 126 bytes.
    return bytes([0x81, len(payload)]) + payload


def main() -> None:
    port = int(sys.argv[1])
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(1)
    sock, _ = lsock.accept()
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    first = sock.recv(65535, socket.MSG_PEEK)
    if first.startswith(b"PRI * HTTP/2.0"):
        conn.initiate_connection()
    else:
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        settings = [
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"http2-settings:")
        ][0]
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
        )
        conn.initiate_upgrade_connection(settings)
    conn.update_settings({ENABLE_CONNECT_PROTOCOL: 1})
    sock.sendall(conn.data_to_send())
    done = False
    while not done:
        data = sock.recv(65535)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                hdrs = dict(ev.headers)
                path = hdrs.get(b":path", b"")
                if hdrs.get(b":protocol") == b"websocket" and path == b"/chat":
                    conn.send_headers(ev.stream_id, [(":status", "200")])
                else:
                    conn.send_headers(
                        ev.stream_id, [(":status", "403")], end_stream=True
                    )
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.data:
                    conn.send_data(ev.stream_id, ws_text(b"hello back"))
            elif isinstance(ev, h2.events.ConnectionTerminated):
                done = True
        sock.sendall(conn.data_to_send())
    sock.close()


if __name__ == "__main__":
    main()
