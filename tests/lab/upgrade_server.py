"""WebSocket upgrade server for the watch tests (watch_live, watch_owners).

usage: upgrade_server.py PORT HOLD_SECONDS

Answers each request once its head is in, by path: /ok accepts the upgrade (101 with
the right Sec-WebSocket-Accept), /deny rejects it (403), /plain is a plain 200; then
holds the connection HOLD_SECONDS before closing it (0: closes at once). Any other
path gets no answer, and the connection is closed after 1.5 s (an upgrade never
answered). Prints "ready" once it listens.
"""
import base64
import hashlib
import socket
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ANSWERS = {
    "/deny": b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden",
    "/plain": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
}


def serve(c, hold):
    with c:
        c.settimeout(5)
        req = b""
        try:
            while b"\r\n\r\n" not in req:
                d = c.recv(4096)
                if not d:
                    return
                req += d
            lines = req.split(b"\r\n")
            path = lines[0].decode(errors="replace").split()[1]
            if path == "/ok":
                key = b""
                for h in lines[1:]:
                    if h.lower().startswith(b"sec-websocket-key:"):
                        key = h.split(b":", 1)[1].strip()
                acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
            elif path in ANSWERS:
                c.sendall(ANSWERS[path])
            else:
                time.sleep(1.5)
                return
            time.sleep(hold)
        except (OSError, IndexError):
            pass


def main():
    port, hold = int(sys.argv[1]), float(sys.argv[2])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(512)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, hold), daemon=True).start()


main()
