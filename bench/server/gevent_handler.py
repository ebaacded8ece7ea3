"""fiber-handler.js on gevent, the Python server this project follows.

gevent's pywsgi serves each connection in a greenlet, and monkey.patch_all()
makes http.client's sockets cooperative, so the blocking-style call to the
upstream parks only its greenlet. Each greenlet keeps one keep-alive
connection to the upstream, as the Node handlers keep a keep-alive agent.
bench/cases/server.ts runs it with the Debian python3-gevent package.
Environment: PORT (0: any), UPSTREAM_URL.
"""
from gevent import monkey

monkey.patch_all()

import http.client  # noqa: E402 (after patching)
import json  # noqa: E402
import os  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

from gevent.local import local  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

UPSTREAM = urlsplit(os.environ["UPSTREAM_URL"])
connections = local()


def fetch_upstream():
    conn = getattr(connections, "conn", None)
    if conn is None:
        conn = connections.conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port)
    try:
        conn.request("GET", "/data")
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    except Exception:
        connections.conn = None
        conn.close()
        raise


def app(environ, start_response):
    status, body = fetch_upstream()
    text = json.dumps({"status": status, "upstream": body}).encode()
    start_response("200 OK", [("content-type", "application/json"), ("content-length", str(len(text)))])
    return [text]


server = WSGIServer(("127.0.0.1", int(os.environ.get("PORT", "0"))), app, log=None)
server.start()
print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
