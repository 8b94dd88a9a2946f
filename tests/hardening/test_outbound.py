# ruff: noqa: F811 - the delivery fixtures are imported by name and used as parameters
"""The guarded outbound client: callback URLs and URLs from uploaded files reach public addresses only.

The tests' own settings allow 127.0.0.0/8 (their fakes listen there); these tests take that
allowance away where they check a refusal, as a production deployment has it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from campaigns.gateways.base import OutgoingPush
from campaigns.gateways.fcm import FcmGateway
from campaigns.models import CallbackAttempt, Delivery, TargetType
from console.models import FcmCredential, KeyConfig
from console.security import outbound
from tests.delivery.conftest import gateways, make_device, make_task, pki, run_task  # noqa: F401
from tests.delivery.test_receipts import CallbackServer, enable_callback, signing  # noqa: F401
from tests.fakes.pki import make_rsa_key
from tests.fakes.vendors import FakeFcm

REFUSED = [
    "http://127.0.0.1:6379/",
    "http://localhost/cb",
    "http://10.1.2.3/cb",
    "http://172.16.0.9/cb",
    "http://192.168.1.7/cb",
    "http://100.64.0.1/cb",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/cb",
    "http://[fd00::5]/cb",
    "http://[::ffff:127.0.0.1]/cb",
    "http://0.0.0.0/cb",
]


@pytest.fixture
def production_outbound(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []


@pytest.mark.parametrize("url", REFUSED)
def test_loopback_private_and_link_local_addresses_are_refused(production_outbound, url):
    with pytest.raises(outbound.RefusedDestination) as refused:
        outbound.resolve(url)
    assert refused.value.reason in ("address", "metadata")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "gopher://x/", "http://u:p@example.com/"])
def test_only_plain_http_and_https_urls(production_outbound, url):
    with pytest.raises(outbound.RefusedDestination):
        outbound.resolve(url)


def test_public_addresses_pass_and_named_networks_can_be_allowed(settings, production_outbound):
    assert outbound.resolve("https://93.184.215.14:8443/cb").address == ipaddress.ip_address("93.184.215.14")
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert outbound.resolve("http://10.1.2.3/cb").port == 80
    with pytest.raises(outbound.RefusedDestination):
        outbound.resolve("http://192.168.1.7/cb")
    # Metadata stays refused whatever is allowed.
    settings.OUTBOUND_ALLOWED_NETWORKS = ["169.254.0.0/16"]
    with pytest.raises(outbound.RefusedDestination):
        outbound.resolve("http://169.254.169.254/")


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/", "http://10.0.0.8/cb", "https://localhost:8000/admin/"])
def test_the_callback_form_refuses_loopback_and_private_addresses(app, client_for, channel_admin, settings, url):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    r = client_for(channel_admin).post(
        f"/apps/{app.app_key}/keys/callback/", {"callback_enabled": "on", "callback_url": url}
    )
    assert r.status_code == 400 and "loopback, private, link-local" in r.content.decode()
    assert KeyConfig.objects.get(app=app).callback_url == ""


def _fake_dns(monkeypatch, answers: dict[str, list[str]]):
    """Names of our own (*.test never resolves for real) answer what the test says, call by call."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            asked.append(host)
            queue = answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.django_db
def test_a_name_that_resolves_to_loopback_only_at_send_time_is_refused(
    app,
    gateways,
    signing,
    settings,
    monkeypatch,  # noqa: F811
):
    """Saved while the name was public; at send time it answers 127.0.0.1 (rebinding): no request."""
    server = CallbackServer(signing)
    try:
        port = server.server.server_address[1]
        _fake_dns(monkeypatch, {"receipts.rebind.test": ["93.184.215.14"]})
        settings.OUTBOUND_ALLOWED_NETWORKS = []
        from console.credentials.parsing import check_callback_url

        url = check_callback_url(f"http://receipts.rebind.test:{port}/hook")
        enable_callback(app, url)
        _fake_dns(monkeypatch, {"receipts.rebind.test": ["127.0.0.1"]})
        make_device(app, "rb1", platform="ios")
        task = make_task(app, ["rb1"], target_type=TargetType.IOS_DEVICE)
        run_task(task)
        delivery = Delivery.objects.get(message__task=task)
        from campaigns.delivery.receipts import receipt_post

        assert receipt_post(delivery_id=delivery.pk, attempt=1) is False
    finally:
        server.close()
    assert server.received == []
    attempt = CallbackAttempt.objects.get(delivery=delivery)
    assert attempt.response_status is None and attempt.error == "refused destination (address)"


@pytest.mark.django_db
def test_a_batch_connects_to_the_address_it_checked(app, gateways, signing, monkeypatch):  # noqa: F811
    """Resolved once: later answers of the name (here a closed port's address) are never used."""
    server = CallbackServer(signing)
    try:
        port = server.server.server_address[1]
        asked = _fake_dns(monkeypatch, {"receipts.pinned.test": ["127.0.0.1", "127.0.0.9"]})
        enable_callback(app, f"http://receipts.pinned.test:{port}/hook")
        for i in range(3):
            make_device(app, f"pn{i}", platform="ios")
        task = make_task(app, [f"pn{i}" for i in range(3)], target_type=TargetType.IOS_DEVICE)
        run_task(task)
        from campaigns.delivery.receipts import receipts_send

        ids = list(Delivery.objects.filter(message__task=task).values_list("pk", flat=True))
        result = receipts_send(app_id=app.pk, delivery_ids=ids, attempt=1)
    finally:
        server.close()
    assert sorted(result.sent) == sorted(ids) and asked == ["receipts.pinned.test"]
    assert len(server.received) == 3


@pytest.mark.django_db
def test_a_closed_port_and_a_refusal_read_the_same(app, gateways, signing, settings):  # noqa: F811
    """No port-scan oracle: the attempt says "could not connect", not the network's own words."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    enable_callback(app, f"http://127.0.0.1:{closed}/hook")
    make_device(app, "cp1", platform="ios")
    task = make_task(app, ["cp1"], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    from campaigns.delivery.receipts import receipt_post

    assert receipt_post(delivery_id=Delivery.objects.get(message__task=task).pk, attempt=1) is False
    assert CallbackAttempt.objects.get().error == "could not connect"


def _tls_endpoint(pki, public_pem) -> CallbackServer:
    """A receipt endpoint over HTTPS with the test CA's certificate for localhost and 127.0.0.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert_file, pki.server_key_file)
    return CallbackServer(public_pem, tls=context)


def _receipt_over(app, url: str, name: str) -> bool | None:
    from campaigns.delivery.receipts import close_pools, receipt_post

    close_pools()  # a new trust store or address: new connections
    enable_callback(app, url)
    make_device(app, name, platform="ios")
    task = make_task(app, [name], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    return receipt_post(delivery_id=Delivery.objects.get(message__task=task).pk, attempt=1)


@pytest.mark.django_db
def test_an_https_endpoint_is_verified_for_its_host_name(app, gateways, signing, pki, monkeypatch):  # noqa: F811
    """Connected to the checked address, verified for the URL's name: trusted CA and matching name only."""
    server = _tls_endpoint(pki, signing)
    port = server.server.server_address[1]
    try:
        # Not trusted yet: the test CA is in no trust store.
        monkeypatch.setenv("SSL_CERT_FILE", pki.server_cert_file)
        assert _receipt_over(app, f"https://localhost:{port}/hook", "tls1") is False
        assert server.received == []
        monkeypatch.setenv("SSL_CERT_FILE", pki.ca_file)
        assert _receipt_over(app, f"https://localhost:{port}/hook", "tls2") is True
        assert [hit["valid"] for hit in server.received] == [True]
        # The name resolves to 127.0.0.1, which the certificate covers, but the URL's name is not in it.
        _fake_dns(monkeypatch, {"receipts.tls.test": ["127.0.0.1"]})
        assert _receipt_over(app, f"https://receipts.tls.test:{port}/hook", "tls3") is False
    finally:
        server.close()
        from campaigns.delivery.receipts import close_pools

        close_pools()
    assert len(server.received) == 1
    errors = list(CallbackAttempt.objects.order_by("pk").values_list("succeeded", "error"))
    assert errors == [(False, "could not connect"), (True, ""), (False, "could not connect")]


def test_a_service_account_token_uri_is_ignored(settings):
    """FCM's token endpoint is Google's (or the operator's FCM_TOKEN_URL), never the file's."""
    private_pem, public_pem = make_rsa_key()
    email = "pusher@demo-project.iam.gserviceaccount.com"
    fake = FakeFcm(project_id="demo-project", client_email=email, public_pem=public_pem).start()
    trap = FakeFcm(project_id="demo-project", client_email=email, public_pem=public_pem).start()
    try:
        settings.FCM_URL, settings.FCM_TOKEN_URL = fake.url, fake.token_url
        account = {
            "type": "service_account",
            "project_id": "demo-project",
            "private_key": private_pem,
            "client_email": email,
            "token_uri": trap.token_url,  # a loopback URL of the uploader's choosing
        }
        gateway = FcmGateway(FcmCredential(enabled=True, service_account=json.dumps(account)))
        try:
            import datetime as dt
            import uuid

            push = OutgoingPush(
                delivery_id=1,
                push_id=str(uuid.uuid4()),
                token="t1",
                platform="android",
                title="Hi",
                body="There",
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
                extras={},
            )
            (result,) = gateway.send_batch([push])
        finally:
            gateway.close()
    finally:
        fake.stop()
        trap.stop()
    assert result.accepted
    assert trap.requests == []
    assert len(fake.requests_to("/token")) == 1
    assert settings.FCM_TOKEN_URL != account["token_uri"]


def test_fcm_token_endpoint_defaults_to_google():
    from console import settings as project_settings

    assert project_settings.FCM_TOKEN_URL == "https://oauth2.googleapis.com/token"


class RawEndpoint:
    """A bare HTTP/1.1 endpoint that answers every POST with `answer` and counts connections.

    idle: seconds after which an idle connection is closed without a word (as servers drop idle
    keep-alive connections); slow: seconds before each answer."""

    def __init__(self, answer: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", idle=None, slow=0.0):
        self.answer, self.idle, self.slow = answer, idle, slow
        self.connections = self.requests = self.open_now = self.most_open = 0
        self.heads: list[bytes] = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.open_now += 1
                self.most_open = max(self.most_open, self.open_now)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(self.idle)
        reader = conn.makefile("rb")
        try:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                reader.read(length)
                with self.lock:
                    self.requests += 1
                    self.heads.append(head)
                time.sleep(self.slow)
                conn.sendall(self.answer)
        except OSError:
            return
        finally:
            with self.lock:
                self.open_now -= 1
            reader.close()
            conn.close()

    def close(self):
        self.listener.close()


def _post_many(pools, url, count, threads=1):
    destination = outbound.resolve(url)
    with ThreadPoolExecutor(threads) as pool:
        return list(
            pool.map(lambda _i: outbound.post(pools, url, content=b"{}", destination=destination), range(count))
        )


def test_keep_alive_connections_are_reused_and_one_the_server_dropped_is_not():
    kept, dropped = RawEndpoint(), RawEndpoint(idle=0.1)
    pools = outbound.Pools(maxsize=4, timeout=5)
    try:
        assert _post_many(pools, kept.url, 20) == [200] * 20
        for _i in range(5):  # the server drops each connection while it is idle in the pool
            assert _post_many(pools, dropped.url, 1) == [200]
            time.sleep(0.3)
    finally:
        pools.close()
        kept.close()
        dropped.close()
    assert (kept.requests, kept.connections) == (20, 1)
    assert (dropped.requests, dropped.connections) == (5, 5)


def test_a_pool_holds_at_most_maxsize_connections_and_a_huge_answer_is_not_read():
    slow = RawEndpoint(slow=0.05)
    big = 4 * 1024 * 1024
    huge = RawEndpoint(answer=b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % big + b"x" * big)
    pools = outbound.Pools(maxsize=3, timeout=5)
    try:
        assert _post_many(pools, slow.url, 24, threads=8) == [200] * 24
        # Only the first 64 KiB of an answer are read; the connection is then dropped, not reused.
        assert _post_many(pools, huge.url, 3) == [500] * 3
    finally:
        pools.close()
        slow.close()
        huge.close()
    assert slow.requests == 24 and slow.most_open <= 3
    assert huge.connections == 3


def test_a_timeout_and_a_garbled_answer_read_as_neutral_errors():
    silent = RawEndpoint(slow=3)
    garbled = RawEndpoint(answer=b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    pools = outbound.Pools(maxsize=2, timeout=0.5)
    try:
        for url, words in ((silent.url, "timed out"), (garbled.url, "could not connect")):
            with pytest.raises(Exception) as caught:  # noqa: PT011 - any failure, described below
                _post_many(pools, url, 1)
            assert outbound.describe_error(caught.value) == words
    finally:
        pools.close()
        silent.close()
        garbled.close()


@pytest.mark.parametrize(
    ("answer", "status", "connections"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200, 1),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 204, 1),
        (b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", 503, 1),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 200, 3),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, 3),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 200, 1),
    ],
    ids=["chunked", "100-continue", "error-with-body", "connection-close", "http-1.0", "http-1.0-keep-alive"],
)
def test_each_way_an_answer_is_framed_is_read_to_its_end(answer, status, connections):
    """The status is read after any 1xx; the connection is reused only when its answer was read
    whole and the server keeps it open."""
    endpoint = RawEndpoint(answer=answer)
    pools = outbound.Pools(maxsize=1, timeout=5)
    try:
        assert _post_many(pools, endpoint.url, 3) == [status] * 3
    finally:
        pools.close()
        endpoint.close()
    assert (endpoint.requests, endpoint.connections) == (3, connections)


def test_a_request_names_its_host_and_length_and_percent_encodes_what_is_not_ascii():
    endpoint = RawEndpoint()
    pools = outbound.Pools(maxsize=1, timeout=5)
    url = endpoint.url.replace("/hook", "/h\u00fck?app=1&sign=a%3D")
    try:
        assert outbound.post(pools, url, content=b'{"a":1}', headers={"Content-Type": "application/json"}) == 200
        with pytest.raises(ValueError, match="invalid header"):
            outbound.post(pools, url, content=b"{}", headers={"X-Evil": "1\r\nHost: elsewhere"})
        destination = outbound.resolve(url)
        for target in ("/h k", "/h\r\nHost: elsewhere", "/h\u00fc"):  # a target not made by request_target
            with pytest.raises(ValueError, match="printable ASCII"):
                outbound.post_to(pools, destination, target, content=b"{}")
    finally:
        pools.close()
        endpoint.close()
    port = endpoint.url.split(":")[2].split("/")[0]
    assert endpoint.heads[0].split(b"\r\n")[:4] == [
        b"POST /h%C3%BCk?app=1&sign=a%3D HTTP/1.1",
        f"Host: 127.0.0.1:{port}".encode(),
        b"Content-Length: 7",
        b"Content-Type: application/json",
    ]
    assert endpoint.requests == 1
