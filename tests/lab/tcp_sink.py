"""A TCP sink for the lab scripts: accepts connections on PORT and discards what it
reads, for SECONDS, then exits.    python3 tcp_sink.py PORT SECONDS"""
import socket
import sys
import threading
import time

port, seconds = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(64)
s.settimeout(0.5)


def drain(c):
    c.settimeout(seconds)
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()


end = time.time() + seconds
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    threading.Thread(target=drain, args=(c,), daemon=True).start()
