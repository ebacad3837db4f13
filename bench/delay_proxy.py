#!/usr/bin/env python3
"""A TCP proxy that delivers every chunk it forwards after a fixed delay, in both directions: a stand-in for a
network between an exporter and its target on one machine (the kernel here has no netem qdisc).

Usage: bench/delay_proxy.py LISTEN_PORT TARGET_PORT ONE_WAY_DELAY_US
Listens on 127.0.0.1:LISTEN_PORT and forwards to 127.0.0.1:TARGET_PORT. Two threads per direction and
connection; the round trip seen by a client is twice the delay plus the proxy's own ~0.1-0.3 ms. Only the Python
standard library is used. Runs until killed.
"""

import collections
import socket
import sys
import threading
import time


def pump(src, dst, delay):
    """Reads from src and hands each chunk to a sender thread that writes it to dst once `delay` has passed."""
    queue = collections.deque()
    cv = threading.Condition()
    closed = [False]

    def sender():
        while True:
            with cv:
                while not queue and not closed[0]:
                    cv.wait()
                if not queue:
                    break
                due, data = queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                dst.sendall(data)
            except OSError:
                break
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=sender, daemon=True).start()
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        with cv:
            if not data:
                closed[0] = True
                cv.notify()
                return
            queue.append((time.monotonic() + delay, data))
            cv.notify()


def main():
    listen_port, target_port, delay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1e6
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(64)
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", target_port))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(client, upstream, delay), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, delay), daemon=True).start()


if __name__ == "__main__":
    main()
