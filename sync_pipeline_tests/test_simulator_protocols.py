"""The simulator's HTTP server speaks XML-RPC, JSON-RPC and JSON-2 as a real Odoo does, and its
fault injection breaks exchanges in the ways a proxy or a network does. Real HTTP on port 0."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from xml.parsers.expat import ExpatError

import pytest
import requests

from sync_pipeline.simulator.core import OdooSimulator
from sync_pipeline.simulator.faults import FaultConfig
from sync_pipeline.simulator.generator import generate
from sync_pipeline.simulator.server import SimulatorServer

DB = "odoo"
KEY = "admin"
PROTOCOLS = ("xmlrpc", "jsonrpc", "json2")
ORDER_FIELDS = ["name", "state", "partner_id", "company_id", "date_order", "write_date"]


@pytest.fixture(scope="module")
def server():
    sim = OdooSimulator()
    generate(sim, seed=7, scale=0.3, days=20, companies=2)
    srv = SimulatorServer(sim).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def no_faults(server):
    server.faults.clear()
    yield
    server.faults.clear()


class Client:
    """One protocol's way of calling ``model.method``; JSON-2 takes the named form."""

    def __init__(self, url: str, protocol: str, uid: int = 2, password: str = KEY):
        self.url, self.protocol, self.uid, self.password = url, protocol, uid, password
        self.http = requests.Session()

    def call(self, model, method, args=(), kwargs=None, named=None):
        kwargs = kwargs or {}
        if self.protocol == "xmlrpc":
            proxy = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/object")
            return proxy.execute_kw(DB, self.uid, self.password, model, method, list(args), kwargs)
        if self.protocol == "jsonrpc":
            params = [DB, self.uid, self.password, model, method, list(args), kwargs]
            reply = jsonrpc(self.http, self.url, "object", "execute_kw", params)
            if "error" in reply:
                raise JsonRpcError(reply["error"])
            return reply.get("result")
        response = self.http.post(
            f"{self.url}/json/2/{model}/{method}",
            json=named if named is not None else kwargs,
            headers={"Authorization": f"bearer {self.password}", "X-Odoo-Database": DB},
        )
        if response.status_code != 200:
            raise Json2Error(response)
        return response.json()


class JsonRpcError(Exception):
    def __init__(self, error):
        super().__init__(error["data"]["message"])
        self.error = error


class Json2Error(Exception):
    def __init__(self, response):
        super().__init__(f"{response.status_code} {response.text[:200]}")
        self.status = response.status_code
        self.body = response.json()


def jsonrpc(session, url, service, method, args, request_id=1):
    payload = {
        "jsonrpc": "2.0",
        "method": "call",
        "params": {"service": service, "method": method, "args": args},
        "id": request_id,
    }
    return session.post(f"{url}/jsonrpc", json=payload).json()


def clients(server, **kw):
    return [Client(server.url, protocol, **kw) for protocol in PROTOCOLS]


def same_through_all(server, model, method, args=(), kwargs=None, named=None):
    results = [c.call(model, method, args, kwargs, named) for c in clients(server)]
    assert results[0] == results[1] == results[2], f"{model}.{method} differs between protocols"
    return results[0]


def customer_and_product(server):
    admin = Client(server.url, "xmlrpc")
    partner = admin.call("res.partner", "search", [[["customer_rank", ">", 0]]], {"limit": 1})
    if not partner:
        partner = admin.call("res.partner", "search", [[]], {"limit": 1})
    product = admin.call("product.product", "search", [[]], {"limit": 1})
    return partner[0], product[0]


def new_invoice(server, client=None):
    partner_id, product_id = customer_and_product(server)
    vals = {
        "move_type": "out_invoice",
        "partner_id": partner_id,
        "invoice_line_ids": [(0, 0, {"product_id": product_id, "quantity": 2, "price_unit": 10})],
    }
    client = client or Client(server.url, "xmlrpc")
    ids = client.call("account.move", "create", [[vals]], named={"vals_list": [vals]})
    return ids[0]


# -- the same calls give the same results -------------------------------------------------


def test_authenticate_and_version_through_all_protocols(server):
    common = xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/common")
    session = requests.Session()
    assert common.authenticate(DB, "admin", "admin", {}) == server.sim.admin_uid
    assert common.login(DB, "admin", "admin") == server.sim.admin_uid
    reply = jsonrpc(session, server.url, "common", "authenticate", [DB, "admin", "admin", {}])
    assert reply == {"jsonrpc": "2.0", "id": 1, "result": server.sim.admin_uid}
    version = common.version()
    assert version["server_version"] == server.sim.version
    assert version["protocol_version"] == 1
    assert jsonrpc(session, server.url, "common", "version", [])["result"] == version
    assert session.get(f"{server.url}/web/version").json() == version


def test_reads_identical_through_all_protocols(server):
    domain = ["|", ["state", "=", "sale"], ["state", "=", "draft"]]
    orders = same_through_all(
        server,
        "sale.order",
        "search_read",
        [domain],
        {"fields": ORDER_FIELDS, "limit": 5, "order": "id desc"},
        {"domain": domain, "fields": ORDER_FIELDS, "limit": 5, "order": "id desc"},
    )
    assert 0 < len(orders) <= 5
    assert [o["id"] for o in orders] == sorted((o["id"] for o in orders), reverse=True)
    assert set(orders[0]) == {"id", *ORDER_FIELDS}
    assert isinstance(orders[0]["partner_id"], list) and len(orders[0]["partner_id"]) == 2

    count = same_through_all(server, "sale.order", "search_count", [domain], named={"domain": domain})
    assert count >= len(orders)

    ids = [o["id"] for o in orders]
    read = same_through_all(
        server,
        "sale.order",
        "read",
        [ids],
        {"fields": ORDER_FIELDS},
        {"ids": ids, "fields": ORDER_FIELDS},
    )
    assert read == sorted(orders, key=lambda o: ids.index(o["id"]))

    fields = same_through_all(
        server,
        "sale.order.line",
        "fields_get",
        [],
        {"attributes": ["type", "string"]},
        {"attributes": ["type", "string"]},
    )
    assert fields["product_uom_qty"]["type"] == "float"

    groups = same_through_all(
        server,
        "sale.order",
        "read_group",
        [[], ["amount_total:sum"], ["state"]],
        {"lazy": False},
        {"domain": [], "fields": ["amount_total:sum"], "groupby": ["state"], "lazy": False},
    )
    assert sum(g["__count"] for g in groups) == same_through_all(
        server, "sale.order", "search_count", [[]], named={"domain": []}
    )


def test_writes_identical_through_all_protocols(server):
    results = {}
    for client in clients(server):
        vals = {"name": f"Cliente {client.protocol}", "city": "Campinas"}
        ids = client.call("res.partner", "create", [[vals]], named={"vals_list": [vals]})
        assert isinstance(ids, list) and len(ids) == 1
        written = client.call(
            "res.partner",
            "write",
            [ids, {"city": "Santos"}],
            named={"ids": ids, "vals": {"city": "Santos"}},
        )
        read = client.call("res.partner", "read", [ids], {"fields": ["city"]}, {"ids": ids, "fields": ["city"]})
        unlinked = client.call("res.partner", "unlink", [ids], named={"ids": ids})
        gone = client.call("res.partner", "search", [[["id", "in", ids]]], named={"domain": [["id", "in", ids]]})
        results[client.protocol] = (written, [r["city"] for r in read], unlinked, gone)
    assert (
        results["xmlrpc"]
        == results["jsonrpc"]
        == results["json2"]
        == (
            True,
            ["Santos"],
            True,
            [],
        )
    )


def test_action_post_identical_through_all_protocols(server):
    outcomes = []
    for client in clients(server):
        move_id = new_invoice(server, client)
        result = client.call("account.move", "action_post", [[move_id]], named={"ids": [move_id]})
        state = client.call(
            "account.move",
            "read",
            [[move_id]],
            {"fields": ["state"]},
            {"ids": [move_id], "fields": ["state"]},
        )[0]["state"]
        outcomes.append((result, state))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0][1] == "posted"


# -- errors as a real Odoo reports them ---------------------------------------------------


def test_wrong_password(server):
    common = xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/common")
    assert common.authenticate(DB, "admin", "wrong", {}) is False
    assert common.login(DB, "admin", "wrong") is False

    with pytest.raises(xmlrpc.client.Fault) as fault:
        Client(server.url, "xmlrpc", password="wrong").call("res.partner", "search", [[]])
    assert fault.value.faultCode == 3
    assert fault.value.faultString == "Access Denied"

    with pytest.raises(JsonRpcError) as error:
        Client(server.url, "jsonrpc", password="wrong").call("res.partner", "search", [[]])
    assert error.value.error["code"] == 200
    assert error.value.error["message"] == "Odoo Server Error"
    assert error.value.error["data"]["name"] == "odoo.exceptions.AccessDenied"
    assert set(error.value.error["data"]) == {"name", "debug", "message", "arguments", "context"}

    for header in ({}, {"Authorization": "bearer wrong"}):
        response = requests.post(f"{server.url}/json/2/res.partner/search", json={"domain": []}, headers=header)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
        body = response.json()
        assert body["name"] == "werkzeug.exceptions.Unauthorized"
        assert set(body) == {"name", "message", "arguments", "context", "debug"}


def test_portal_user_gets_access_error(server):
    uid = xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/common").authenticate(DB, "portal", "portal", {})
    assert uid and uid != server.sim.admin_uid
    with pytest.raises(xmlrpc.client.Fault) as fault:
        Client(server.url, "xmlrpc", uid=uid, password="portal").call(
            "account.move", "search_read", [[]], {"fields": ["name"], "limit": 1}
        )
    assert fault.value.faultCode == 4
    with pytest.raises(JsonRpcError) as error:
        Client(server.url, "jsonrpc", uid=uid, password="portal").call(
            "account.move", "search_read", [[]], {"fields": ["name"], "limit": 1}
        )
    assert error.value.error["data"]["name"] == "odoo.exceptions.AccessError"


def test_portal_api_key_gets_403_on_json2(server):
    portal_key = "portal"
    portal_uid = xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/common").authenticate(DB, "portal", "portal", {})
    assert server.sim.uid_for_api_key(portal_key) == portal_uid != server.sim.admin_uid
    response = requests.post(
        f"{server.url}/json/2/account.move/search_read",
        json={"domain": [], "fields": ["name"], "limit": 1},
        headers={"Authorization": f"bearer {portal_key}"},
    )
    assert response.status_code == 403
    assert response.json()["name"] == "odoo.exceptions.AccessError"


def test_json2_http_errors(server):
    url, auth = f"{server.url}/json/2/res.partner", {"Authorization": f"bearer {KEY}"}
    private = requests.post(f"{url}/_read", json={}, headers=auth)
    assert private.status_code == 403
    assert private.json()["name"] == "odoo.exceptions.AccessError"
    assert requests.get(f"{url}/search").status_code == 405
    broken = requests.post(f"{url}/search", data=b"{oops", headers={**auth, "Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["message"].startswith("could not parse the body as json")
    bad_kwarg = requests.post(f"{url}/search_count", json={"bogus": 1}, headers=auth)
    assert bad_kwarg.status_code == 422
    other_db = requests.post(f"{url}/search", json={}, headers={**auth, "X-Odoo-Database": "nope"})
    assert other_db.status_code == 404


def test_unknown_model(server):
    with pytest.raises(xmlrpc.client.Fault) as fault:
        Client(server.url, "xmlrpc").call("no.such.model", "search", [[]])
    assert fault.value.faultCode == 2
    assert fault.value.faultString == "Object no.such.model doesn't exist"
    with pytest.raises(JsonRpcError) as error:
        Client(server.url, "jsonrpc").call("no.such.model", "search", [[]])
    assert error.value.error["data"]["message"] == "Object no.such.model doesn't exist"
    with pytest.raises(Json2Error) as json2:
        Client(server.url, "json2").call("no.such.model", "search", named={"domain": []})
    assert json2.value.status == 404
    assert json2.value.body["name"] == "werkzeug.exceptions.NotFound"


def test_unknown_and_private_methods(server):
    with pytest.raises(xmlrpc.client.Fault) as fault:
        Client(server.url, "xmlrpc").call("res.partner", "no_such_method", [[]])
    assert fault.value.faultCode == 1
    assert fault.value.faultString.startswith("Traceback (most recent call last):")
    assert "AttributeError" in fault.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as fault:
        Client(server.url, "xmlrpc").call("res.partner", "_private", [[]])
    assert fault.value.faultCode == 4
    with pytest.raises(Json2Error) as json2:
        Client(server.url, "json2").call("res.partner", "no_such_method", named={"ids": [1]})
    assert json2.value.status == 404
    with pytest.raises(Json2Error) as json2:
        Client(server.url, "json2").call("res.partner", "search", named={"ids": [1]})
    assert json2.value.status == 422
    assert json2.value.body["message"] == "cannot call res.partner.search with ids"


def test_user_error_on_cancelling_a_posted_invoice(server):
    admin = Client(server.url, "xmlrpc")
    move_id = new_invoice(server)
    admin.call("account.move", "action_post", [[move_id]])
    with pytest.raises(xmlrpc.client.Fault) as fault:
        admin.call("account.move", "button_cancel", [[move_id]])
    assert fault.value.faultCode == 2
    with pytest.raises(JsonRpcError) as error:
        Client(server.url, "jsonrpc").call("account.move", "button_cancel", [[move_id]])
    assert error.value.error["data"]["name"] == "odoo.exceptions.UserError"
    with pytest.raises(Json2Error) as json2:
        Client(server.url, "json2").call("account.move", "button_cancel", named={"ids": [move_id]})
    assert json2.value.status == 422
    assert json2.value.body["name"] == "odoo.exceptions.UserError"
    assert json2.value.body["message"] == fault.value.faultString


def test_button_draft_over_xmlrpc_commits_then_cannot_marshal_none(server):
    admin = Client(server.url, "xmlrpc")
    move_id = new_invoice(server)
    admin.call("account.move", "action_post", [[move_id]])
    with pytest.raises(xmlrpc.client.Fault) as fault:
        admin.call("account.move", "button_draft", [[move_id]])
    assert fault.value.faultCode == 1
    assert "cannot marshal None unless allow_none is enabled" in fault.value.faultString
    state = admin.call("account.move", "read", [[move_id]], {"fields": ["state"]})[0]["state"]
    assert state == "draft"
    # JSON-RPC leaves "result" out of a None answer; JSON-2 answers null.
    admin.call("account.move", "action_post", [[move_id]])
    reply = jsonrpc(
        requests.Session(),
        server.url,
        "object",
        "execute_kw",
        [DB, 2, KEY, "account.move", "button_draft", [[move_id]], {}],
    )
    assert reply == {"jsonrpc": "2.0", "id": 1}
    admin.call("account.move", "action_post", [[move_id]])
    assert Client(server.url, "json2").call("account.move", "button_draft", named={"ids": [move_id]}) is None


def test_invalid_field_is_a_server_error(server):
    with pytest.raises(xmlrpc.client.Fault) as fault:
        Client(server.url, "xmlrpc").call("res.partner", "search", [[["no_field", "=", 1]]])
    assert fault.value.faultCode == 1
    with pytest.raises(Json2Error) as json2:
        Client(server.url, "json2").call("res.partner", "search", named={"domain": [["no_field", "=", 1]]})
    assert json2.value.status == 500
    assert json2.value.body["name"] == "builtins.ValueError"


def test_unknown_path_is_404(server):
    assert requests.post(f"{server.url}/nope", data=b"x").status_code == 404
    assert requests.get(f"{server.url}/xmlrpc/2/object").status_code == 404


# -- fault injection ----------------------------------------------------------------------


def version_call(server, session=None, timeout=10):
    payload = {
        "jsonrpc": "2.0",
        "method": "call",
        "params": {"service": "common", "method": "version", "args": []},
        "id": 1,
    }
    return (session or requests).post(f"{server.url}/jsonrpc", json=payload, timeout=timeout)


@pytest.mark.parametrize("kind", ["502", "503", "504"])
def test_proxy_errors_once_then_success(server, kind):
    server.faults.inject(kind)
    response = version_call(server)
    assert response.status_code == int(kind)
    assert response.headers["Content-Type"].startswith("text/html")
    assert f"<h1>{kind} " in response.text
    assert version_call(server).status_code == 200
    with pytest.raises(xmlrpc.client.ProtocolError) as error:
        server.faults.inject(kind)
        xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/common").version()
    assert error.value.errcode == int(kind)


def test_gateway_timeout_still_commits(server):
    admin = Client(server.url, "xmlrpc")
    partner = admin.call("res.partner", "search", [[]], {"limit": 1})
    server.faults.inject("504", model="res.partner", method="write")
    with pytest.raises(xmlrpc.client.ProtocolError):
        admin.call("res.partner", "write", [partner, {"city": "Gateway"}])
    assert admin.call("res.partner", "read", [partner], {"fields": ["city"]})[0]["city"] == "Gateway"


def test_injection_targets_model_and_method(server):
    admin = Client(server.url, "jsonrpc")
    server.faults.inject("503", model="res.partner", method="search_read")
    assert admin.call("res.partner", "search_count", [[]]) > 0
    assert version_call(server).status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        admin.call("res.partner", "search_read", [[]], {"fields": ["name"], "limit": 1})
    assert admin.call("res.partner", "search_read", [[]], {"fields": ["name"], "limit": 1})


def test_drop_cuts_the_body(server):
    server.faults.inject("drop")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        version_call(server)
    assert version_call(server).status_code == 200
    server.faults.inject("drop")
    # xmlrpc.client reads in chunks, so it sees the cut as an unclosed XML document
    with pytest.raises((http.client.IncompleteRead, ExpatError)):
        xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/common").version()


def test_reset_closes_without_answer(server):
    server.faults.inject("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        version_call(server)
    assert version_call(server).status_code == 200


@pytest.mark.parametrize("kind", ["garbage", "truncate"])
def test_garbage_and_truncate_answer_200_with_a_broken_document(server, kind):
    full = version_call(server).content
    server.faults.inject(kind)
    response = version_call(server)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    if kind == "truncate":
        assert 0 < len(response.content) < len(full)
        assert full.startswith(response.content)
    server.faults.inject(kind)
    with pytest.raises(Exception) as error:  # expat or xmlrpc errors alike
        xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/common").version()
    assert not isinstance(error.value, xmlrpc.client.Fault)


def test_timeout_then_success(server):
    server.faults.update(timeout_delay=1.0)
    server.faults.inject("timeout")
    with pytest.raises(requests.exceptions.ReadTimeout):
        version_call(server, timeout=0.3)
    assert version_call(server, timeout=5).status_code == 200


def test_latency_per_row_slows_big_pages(server):
    admin = Client(server.url, "json2")
    named = {"domain": [], "fields": ["name"], "limit": 40}
    server.faults.update(latency_per_row=0.01)
    started = time.perf_counter()
    rows = admin.call("sale.order.line", "search_read", named=named)
    big = time.perf_counter() - started
    started = time.perf_counter()
    admin.call("sale.order.line", "search_read", named={**named, "limit": 1})
    small = time.perf_counter() - started
    assert len(rows) == 40
    assert big >= 0.4
    assert big - small >= 0.3


def test_error_rate_and_slow_pages_are_seeded(server):
    server.faults.update(error_rate=1.0)
    assert {version_call(server).status_code for _ in range(6)} <= {502, 503}
    server.faults.update(error_rate=0.5, seed=3)
    first = [version_call(server).status_code for _ in range(12)]
    server.faults.update(seed=3)
    assert [version_call(server).status_code for _ in range(12)] == first
    assert {200, 502, 503} & set(first) and 200 in first
    server.faults.update(error_rate=0.0, slow_page_every=3, slow_page_delay=0.3)
    durations = []
    for _ in range(3):
        started = time.perf_counter()
        version_call(server)
        durations.append(time.perf_counter() - started)
    assert sum(d >= 0.3 for d in durations) == 1


def test_drop_rate(server):
    server.faults.update(drop_rate=1.0)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        version_call(server)


def test_control_endpoints(server):
    session = requests.Session()
    assert session.post(f"{server.url}/sim/reset-stats").json() is True
    settings = session.post(
        f"{server.url}/sim/faults",
        json={"latency_per_call": 0.0, "inject": [{"kind": "502", "count": 2}]},
    ).json()
    assert settings["latency_per_call"] == 0.0
    stats = session.get(f"{server.url}/sim/stats").json()  # control calls are never faulted
    assert stats["faults"]["pending"] == 2
    assert version_call(server, session).status_code == 502
    assert version_call(server, session).status_code == 502
    Client(server.url, "json2").call("res.partner", "search_read", named={"limit": 3})
    stats = session.get(f"{server.url}/sim/stats").json()
    assert stats["faults"]["injected"] == {"502": 2}
    assert stats["calls"]["json2"]["res.partner"]["search_read"] == 1
    assert stats["calls_by_protocol"] == {"json2": 1}
    assert stats["rows_returned"] == 3
    bad = session.post(f"{server.url}/sim/faults", json={"inject": [{"kind": "meteor"}]})
    assert bad.status_code == 400


# -- lifecycle ----------------------------------------------------------------------------


def test_stop_frees_the_port_and_closes_keepalive_connections():
    sim = OdooSimulator()
    srv = SimulatorServer(sim, faults=FaultConfig()).start()
    port = srv.port
    session = requests.Session()
    assert version_call(srv, session).status_code == 200  # leaves a keep-alive connection open
    srv.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with SimulatorServer(sim, port=port) as again:  # the same port can be served again
        assert version_call(again).status_code == 200


def test_serve_entry_point_prints_and_stops_on_sigterm():
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync_pipeline.simulator.serve", "--port", "0", "--scale", "0.05"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("  generated:"):
                break
        url = next(line.split()[-1] for line in lines if line.strip().startswith("url:"))
        assert requests.post(f"{url}/xmlrpc/2/common", data=xmlrpc.client.dumps((), "version"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
