"""The tutorial's UDP echo server: a blocking recvfrom/sendto loop, upper-cased.

    python3 bench/baseline/udp-upper-server.py [PORT]

Binds 127.0.0.1:PORT (0: any free port), prints the port on one line, then
answers every datagram with bytes.upper() of it (ASCII letters only, as
sockit's `upper` reply mode) until killed. No limits, no validation: the
baseline bench/udp-echo.bench.ts compares sockit with.
"""

import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0))
print(sock.getsockname()[1], flush=True)
while True:
    data, addr = sock.recvfrom(65535)
    sock.sendto(data.upper(), addr)
