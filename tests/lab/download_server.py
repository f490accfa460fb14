"""Download server and UDP echo for the top tests (top_live, top_bpf, top_containers).

usage: download_server.py TCP_PORT UDP_PORT

On TCP_PORT a client sends "SIZE [PACE]\\n" and gets SIZE bytes, in 64 KiB chunks
PACE seconds apart (none: as fast as the socket takes them), then the server closes.
On UDP_PORT every datagram is echoed. Prints "ready" once both listen.
"""
import socket
import sys
import threading
import time

CHUNK = b"x" * 65536


def serve_download(c):
    with c:
        line = b""
        while not line.endswith(b"\n"):
            d = c.recv(64)
            if not d:
                return
            line += d
        words = line.split()
        size = int(words[0])
        pace = float(words[1]) if len(words) > 1 else 0.0
        sent = 0
        while sent < size:
            n = min(len(CHUNK), size - sent)
            c.sendall(CHUNK[:n])
            sent += n
            if pace:
                time.sleep(pace)


def echo(u):
    while True:
        d, a = u.recvfrom(65535)
        u.sendto(d, a)


def main():
    tcp_port, udp_port = int(sys.argv[1]), int(sys.argv[2])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", tcp_port))
    s.listen(512)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", udp_port))
    threading.Thread(target=echo, args=(u,), daemon=True).start()
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_download, args=(c,), daemon=True).start()


main()
