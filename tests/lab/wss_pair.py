#!/usr/bin/env python3
"""A WebSocket echo server over TLS and one client of it, in one process on loopback,
for the TLS fixtures (tests/lab/tls-fixtures.sh captures them with tcpdump).

    wss_pair.py --port P --cert C --key K --keylog F --tls 1.2|1.3 --mode ok|reject

The client writes the session's secrets to F (ssl.SSLContext.keylog_filename), as a
browser does with SSLKEYLOGFILE. Mode ok: the upgrade is accepted, one text message
echoed, closed with 1000. Mode reject: the server answers the upgrade 403.
"""
import argparse
import asyncio
import http
import ssl

import websockets


async def main(a):
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(a.cert, a.key)
    version = ssl.TLSVersion.TLSv1_2 if a.tls == "1.2" else ssl.TLSVersion.TLSv1_3
    server_ctx.minimum_version = server_ctx.maximum_version = version
    server_ctx.set_alpn_protocols(["http/1.1"])
    if a.tls == "1.2":
        server_ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")

    async def echo(ws, _path=None):
        async for msg in ws:
            await ws.send(msg)

    async def gate(path, _headers):
        if a.mode == "reject":
            return http.HTTPStatus.FORBIDDEN, [], b"no\n"
        return None

    async with websockets.serve(echo, "127.0.0.1", a.port, ssl=server_ctx, process_request=gate):
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
        client_ctx.keylog_filename = a.keylog
        client_ctx.set_alpn_protocols(["http/1.1"])
        try:
            async with websockets.connect(
                f"wss://127.0.0.1:{a.port}/socket", ssl=client_ctx, server_hostname="lab.example"
            ) as ws:
                await ws.send("hello")
                print("echo:", await ws.recv())
        except websockets.exceptions.InvalidStatusCode as e:
            print("rejected:", e.status_code)
        await asyncio.sleep(0.3)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for opt in ("--port", "--cert", "--key", "--keylog", "--tls", "--mode"):
        p.add_argument(opt, required=True)
    asyncio.run(main(p.parse_args()))
