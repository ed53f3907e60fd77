#!/usr/bin/env python3
"""Benchmark-only proxy in front of moto, so that two ECR helpers reach the same emulator.

* Plain HTTP requests (`AWS_ENDPOINT_URL=http://127.0.0.1:PORT`) are forwarded to moto.
* `CONNECT <host>:443` (docker-credential-ecr-login has no endpoint override: it is sent here
  with HTTPS_PROXY) is answered with TLS made from a certificate the caller gives (signed by a
  CA the client trusts through SSL_CERT_FILE), and the requests inside are forwarded to moto.
* moto's `expiresAt` is always 2015-01-01, which no correct cache keeps: every
  `authorizationData[].expiresAt` is rewritten to now + 12 h, so both helpers cache.

Prints PORT=<port> when ready; exits when stdin reaches end of file.
"""
import argparse
import http.client
import http.server
import json
import socketserver
import ssl
import sys
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--moto-port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(args.cert, args.key)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def do_CONNECT(self):
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            wrapped = tls.wrap_socket(self.connection, server_side=True)
            Handler(wrapped, self.client_address, self.server)
            self.close_connection = True

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            upstream = http.client.HTTPConnection("127.0.0.1", args.moto_port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "proxy-connection")}
            upstream.request("POST", self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            if answer.status == 200:
                try:
                    value = json.loads(data)
                    for item in value.get("authorizationData", []):
                        item["expiresAt"] = time.time() + 12 * 3600
                    data = json.dumps(value).encode()
                except ValueError:
                    pass
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT={server.server_address[1]}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
