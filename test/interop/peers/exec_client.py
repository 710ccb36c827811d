#!/usr/bin/env python3
"""A plain-socket exec client, to show the protocol needs nothing but the
standard library: read the hello, answer HMAC-SHA256(token, nonce), run argv
with the given stdin, and print what came back as one JSON object.

usage: exec_client.py HOST PORT STDIN ARGV...   (token in SOCKIT_TOKEN)
"""
import hashlib
import hmac
import json
import os
import socket
import struct
import sys

host, port, stdin = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
argv = sys.argv[4:]
token = os.environ["SOCKIT_TOKEN"]


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"server closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def send(sock, header, body=b""):
    data = json.dumps(header).encode()
    sock.sendall(struct.pack("!I", len(data)) + data + body)


def receive(sock):
    (n,) = struct.unpack("!I", recv_exact(sock, 4))
    header = json.loads(recv_exact(sock, n))
    body = recv_exact(sock, header.get("size", 0))
    return header, body


with socket.create_connection((host, port)) as sock:
    hello, _ = receive(sock)
    mac = hmac.new(token.encode(), hello["nonce"].encode(), hashlib.sha256).hexdigest()
    send(sock, {"type": "auth", "mac": mac})
    ready, _ = receive(sock)
    send(sock, {"type": "run", "argv": argv})
    started, _ = receive(sock)
    send(sock, {"type": "stdin", "size": len(stdin)}, stdin)
    send(sock, {"type": "eof"})
    out = {"stdout": b"", "stderr": b""}
    while True:
        header, body = receive(sock)
        if header["type"] in out:
            out[header["type"]] += body
        else:
            break
    print(json.dumps({
        "hello": {k: hello[k] for k in ("type", "service", "version")},
        "ready": ready["type"],
        "started": started["type"],
        "stdout": out["stdout"].decode(),
        "stderr": out["stderr"].decode(),
        "exit": {k: header.get(k) for k in ("type", "code", "signal")},
    }))
