#!/usr/bin/env python3
"""The framed client a socket tutorial teaches: struct-packed 4-byte length, then
the payload, and a recv loop that keeps reading until it has n bytes.

usage: framed_client.py HOST PORT FORMAT MSG...
FORMAT is a struct format for the length: "!I" (network order, u32be) or "i"
(native, little-endian on x86, u32le). Prints one JSON value per line.
"""
import json
import socket
import struct
import sys

host, port, fmt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
messages = [m.encode("utf-8") for m in sys.argv[4:]]


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"server closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def frame(payload):
    return struct.pack(fmt, len(payload)) + payload


def recv_frame(sock):
    (n,) = struct.unpack(fmt, recv_exact(sock, struct.calcsize(fmt)))
    return recv_exact(sock, n)


with socket.create_connection((host, port), timeout=10) as s:
    # One request, one reply.
    for m in messages:
        s.sendall(frame(m))
        print(json.dumps({"reply": recv_frame(s).decode("utf-8")}))
    # Every request in one sendall: "sticky packets" the server must take apart.
    s.sendall(b"".join(frame(m) for m in messages))
    print(json.dumps({"sticky": [recv_frame(s).decode("utf-8") for _ in messages]}))
    # An empty message, then 2 MiB of every byte value.
    s.sendall(frame(b""))
    print(json.dumps({"emptyLength": len(recv_frame(s))}))
    big = bytes(range(256)) * 8192
    s.sendall(frame(big))
    reply = recv_frame(s)
    print(json.dumps({"bigLength": len(reply), "bigUpper": reply == big.upper()}))
    # Done: half-close, and the server closes its side too.
    s.shutdown(socket.SHUT_WR)
    print(json.dumps({"eof": s.recv(1) == b""}))
