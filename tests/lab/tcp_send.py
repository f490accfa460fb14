"""Sends BYTES on each of FLOWS parallel TCP connections to IP:PORT, each giving up
after TIMEOUT seconds (a black hole must not hang the lab).
    python3 tcp_send.py IP FLOWS BYTES PORT TIMEOUT"""
import socket
import sys
import threading

ip, flows, size, port, timeout = (
    sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))


def one(i):
    try:
        c = socket.create_connection((ip, port), timeout=timeout)
        c.sendall(bytes([65 + i % 26]) * size)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
        c.close()
        print(f"flow {i}: sent {size} bytes")
    except OSError as e:
        print(f"flow {i}: {e}")


threads = [threading.Thread(target=one, args=(i,)) for i in range(flows)]
for t in threads:
    t.start()
for t in threads:
    t.join()
