#!/usr/bin/env python3
"""The TLS lab's WebSocket client (tests/lab_tls.rs): one upgrade over wss:// through
HAProxy with the `websockets` library, writing the session's secrets to an NSS key log
(ssl.SSLContext.keylog_filename) the way a browser does with SSLKEYLOGFILE.

    wss_lab_client.py --host IP --port P --keylog F --tls 1.2|1.3 [--answer-timeout S]
                      [--ciphers OPENSSL-LIST] [--no-etm]

The TCP connection is opened here and handed to websockets, so the request carries
`Host: lab.example` (the certificate's name, also sent as SNI) while the packets go to
the lab address. On 101 it sends 4 text messages of 3000 bytes, reads each echo and
closes with 1000; on another status it prints it; with no answer within
--answer-timeout seconds it gives up. One line per outcome on stdout, exit 0: the
capture is the product.
"""
import argparse
import asyncio
import socket
import ssl

import websockets


async def main(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The lab's certificate is self-signed, made at test time.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.keylog_filename = a.keylog
    version = ssl.TLSVersion.TLSv1_2 if a.tls == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = version
    ctx.set_alpn_protocols(["http/1.1"])
    if a.ciphers:
        # Python's default list leaves out the SHA-1 CBC suites the CBC cases force.
        ctx.set_ciphers(a.ciphers)
    if a.no_etm:
        # SSL_OP_NO_ENCRYPT_THEN_MAC (OpenSSL 1.1.1 and 3.x; the ssl module has no
        # name for it): the client then does not offer RFC 7366, so a CBC suite
        # MACs the plaintext.
        ctx.options |= 0x00080000
    sock = socket.create_connection((a.host, a.port), timeout=5)
    sock.setblocking(False)
    try:
        async with websockets.connect(
            f"wss://lab.example:{a.port}/socket",
            sock=sock,
            ssl=ctx,
            server_hostname="lab.example",
            open_timeout=a.answer_timeout,
            close_timeout=5,
        ) as ws:
            print("upgrade answer: 101")
            for i in range(4):
                await ws.send(("m%d-" % i) + "x" * 2997)
                echo = await asyncio.wait_for(ws.recv(), 10)
                print("echo", i, len(echo))
            await ws.close(code=1000)
            print("closed:", ws.close_code)
    except websockets.exceptions.InvalidStatusCode as e:
        print("upgrade answer:", e.status_code)
    except (asyncio.TimeoutError, TimeoutError):
        print("no answer in", a.answer_timeout, "s")
    except websockets.exceptions.InvalidMessage as e:
        # HAProxy's silent-drop without TCP_REPAIR sends an RST with TTL 1, meant to
        # die at the first router; the lab has none, so it can reach the client.
        print("no answer: closed without an HTTP response:", e)
    except (OSError, websockets.exceptions.WebSocketException) as e:
        print("failed:", type(e).__name__, e)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for opt in ("--host", "--keylog", "--tls"):
        p.add_argument(opt, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--answer-timeout", type=float, default=8)
    p.add_argument("--ciphers")
    p.add_argument("--no-etm", action="store_true")
    asyncio.run(main(p.parse_args()))
