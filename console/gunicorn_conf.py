"""gunicorn settings of the production command: `gunicorn -c python:console.gunicorn_conf ...`.

Every worker listens on a TCP socket of its own, bound to the same address with SO_REUSEPORT,
and the master closes its own once it has read the address: the kernel then hands each new
connection to one worker's socket, spread evenly. With the one socket gunicorn shares, the
worker whose event loop wakes first accepts every connection that is waiting, so a burst of
keep-alive clients (an API client's pool, a proxy's upstream connections) was served by one
worker while the others idled. A Unix socket bind is shared as before.

HUP (reload) and replaced workers work as usual. USR2 (a new master taking over the old one's
sockets) does not: the master keeps no TCP socket to hand over; restart instead.
"""

from __future__ import annotations

from gunicorn import sock

reuse_port = True


def when_ready(server) -> None:
    """The master: note each TCP address (the bound port, for `-b host:0`) and stop listening."""
    server.worker_binds = []
    kept = []
    for listener in server.LISTENERS:
        if isinstance(listener, sock.TCPSocket):
            server.worker_binds.append((type(listener), listener.sock.getsockname()[:2]))
            listener.close()
        else:
            kept.append(listener)
    server.LISTENERS = kept


def post_fork(server, worker) -> None:
    """A new worker (at start or replacing one): its own socket for each TCP address."""
    own = [kind(address, server.cfg, server.log) for kind, address in getattr(server, "worker_binds", [])]
    worker.sockets = [*worker.sockets, *own]
