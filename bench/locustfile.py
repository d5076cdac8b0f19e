"""The app users of `make load` (bench/load.py starts locust on this file; LOAD_POPULATION names
the customers' file it wrote).

Most users are phones left open on the home screen: they load it once, open the live stream of
their account over WebSocket (`graphql-transport-ws`) and then only listen. The others use the
app: they log in with their password, load the home screen, page through their history and send
small transfers to other customers, a few seconds apart, with a live stream open meanwhile.
Every user is one app instance of one of the seeded customers (several instances per customer
when there are more users than customers).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import HttpUser, between, task
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench.compare import HOME_QUERY
from bench.loadgen import TRANSFER_MUTATION
from bench.ws_clients import SUBSCRIPTION

LOGIN = (
    "mutation Login($input: LoginInput!) { login(input: $input) { accessToken "
    "userErrors { code } } }"
)
HISTORY = (
    "query History($id: ID!, $after: String) { account(id: $id) { transactions(first: 20, "
    "after: $after) { edges { node { id amount { amount } direction description createdAt } } "
    "pageInfo { hasNextPage endCursor } } } }"
)
PROTOCOL = Subprotocol("graphql-transport-ws")

with open(os.environ["LOAD_POPULATION"]) as population_file:
    POPULATION: dict[str, Any] = json.load(population_file)
CUSTOMERS: list[dict[str, str]] = POPULATION["customers"]
_turns = itertools.count()
# Streams that delivered their first event and are still open, for the runner's report.
OPEN_SUBSCRIPTIONS = 0


class AppUser(HttpUser):
    abstract = True
    token: str
    customer: dict[str, str]

    def on_start(self) -> None:
        self.customer = CUSTOMERS[next(_turns) % len(CUSTOMERS)]
        self.token = self.customer["token"]

    def graphql(self, name: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        """POST one operation; a transport error, a GraphQL error or a userError fails it."""
        with self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {self.token}"},
            name=name,
            catch_response=True,
        ) as response:
            try:
                body = response.json()
            except ValueError:
                response.failure(f"{response.status_code}: not JSON")
                return None
            if response.status_code != 200 or body.get("errors"):
                response.failure(f"{response.status_code}: {str(body.get('errors'))[:120]}")
                return None
            payload = next(iter((body.get("data") or {}).values()), None)
            if isinstance(payload, dict) and payload.get("userErrors"):
                response.failure(f"userErrors: {payload['userErrors']}")
                return None
            return payload

    def listen(self) -> None:
        """Open the account's live stream in the background: it reads until the user stops."""
        gevent.spawn(self._stream)

    def _stream(self) -> None:
        global OPEN_SUBSCRIPTIONS
        started = time.perf_counter()
        connection: ClientConnection | None = None
        delivering = False
        try:
            connection = connect(
                str(self.host).replace("http", "ws", 1) + "/graphql",
                subprotocols=[PROTOCOL],
                open_timeout=30,
                ping_interval=None,  # idle phones: no keep-alive traffic of their own
                compression=None,
            )
            connection.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {self.token}"},
                    }
                )
            )
            if json.loads(connection.recv(timeout=30))["type"] != "connection_ack":
                raise WebSocketException("no connection_ack")
            subscribe = {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": {"id": self.customer["account"]}},
            }
            connection.send(json.dumps(subscribe))
            first = json.loads(connection.recv(timeout=30))
            if first["type"] != "next":
                raise WebSocketException(f"first message {first['type']}")
            self._report("subscribe", started, None)
            delivering = True
            OPEN_SUBSCRIPTIONS += 1
            while True:
                message = json.loads(connection.recv())
                if message["type"] != "next":
                    raise WebSocketException(f"stream ended: {str(message)[:120]}")
        except (WebSocketException, OSError, TimeoutError, ValueError, KeyError) as error:
            self._report("subscribe" if not delivering else "stream", started, error)
        except gevent.GreenletExit:
            pass  # the run ended
        finally:
            if delivering:
                OPEN_SUBSCRIPTIONS -= 1
            if connection is not None:
                connection.close()

    def _report(self, name: str, started: float, error: BaseException | None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )


class IdleUser(AppUser):
    """A phone on the home screen: one load, then its live stream only."""

    weight = int(os.environ.get("LOAD_IDLE_WEIGHT", "95"))
    wait_time = between(3600, 3600)

    def on_start(self) -> None:
        super().on_start()
        self.graphql("home", HOME_QUERY)
        self.listen()

    @task
    def stay(self) -> None:
        """Nothing: the stream does the work."""


class ActiveUser(AppUser):
    """Someone using the app: logs in, looks around, sends money now and then."""

    weight = int(os.environ.get("LOAD_ACTIVE_WEIGHT", "5"))
    wait_time = between(2, 6)

    def on_start(self) -> None:
        super().on_start()
        payload = self.graphql(
            "login",
            LOGIN,
            {
                "input": {
                    "email": self.customer["email"],
                    "password": POPULATION["password"],
                    "deviceName": "load",
                }
            },
        )
        if payload is not None:
            self.token = payload["accessToken"]
        self.listen()

    @task(4)
    def home(self) -> None:
        self.graphql("home", HOME_QUERY)

    @task(3)
    def history(self) -> None:
        """The first page of the account's history, and the next one when there is one."""
        variables: dict[str, Any] = {"id": self.customer["account"], "after": None}
        page = self.graphql("history", HISTORY, variables)
        info = page and page["transactions"]["pageInfo"]
        if info and info["hasNextPage"]:
            self.graphql("history", HISTORY, {**variables, "after": info["endCursor"]})

    @task(1)
    def transfer(self) -> None:
        other = random.choice(CUSTOMERS)["account"]
        if other == self.customer["account"]:
            return
        self.graphql(
            "transfer",
            TRANSFER_MUTATION,
            {
                "input": {
                    "idempotencyKey": str(uuid.uuid4()),
                    "fromAccountId": self.customer["account"],
                    "toAccountId": other,
                    "amount": {"amount": "0.01", "currency": "USD"},
                }
            },
        )


def _sample_open_subscriptions() -> None:
    """Every few seconds, the streams open now, where the runner can read them."""
    path = os.environ.get("LOAD_SUBSCRIPTIONS_FILE")
    while path:
        with open(path, "w") as sample:
            sample.write(str(OPEN_SUBSCRIPTIONS))
        gevent.sleep(2)


gevent.spawn(_sample_open_subscriptions)
