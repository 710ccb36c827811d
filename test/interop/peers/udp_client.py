#!/usr/bin/env python3
"""The tutorial UDP client: sendto, then recvfrom, one datagram each way.

usage: udp_client.py HOST PORT MSG...   Prints one JSON object per reply.
"""
import json
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2)
for m in sys.argv[3:]:
    data = m.encode("utf-8")
    # Loopback can drop a datagram under load: retry a few times, like any UDP client must.
    for attempt in range(4):
        sock.sendto(data, (host, port))
        try:
            reply, addr = sock.recvfrom(65535)
            break
        except socket.timeout:
            if attempt == 3:
                raise
    print(json.dumps({"reply": reply.decode("utf-8"), "from": [addr[0], addr[1]]}))
sock.close()
