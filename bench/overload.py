"""Figure 10: under overload, money writes keep succeeding while heavy reads are shed.

One `bff serve` with its default shedding thresholds, driven past saturation: many closed-loop
clients of a heavy read (20 accounts with 50 transactions each, about 4,000 points, over
BFF_SHED_HEAVY_COST) beside a few clients of createTransfer. Printed: the success rate of each
(a transfer succeeds with 200 and no userErrors; a heavy read with 200 and data), and how many
reads were shed with 503 OVERLOADED. Goal: money writes above 99 %.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import httpx

from bench.loadgen import TRANSFER_MUTATION
from bench.processes import Processes, bff_argv, free_port, wait_until_ready

HEAVY_CLIENTS = int(os.environ.get("BENCH_OVERLOAD_HEAVY_CLIENTS", "96"))
MONEY_CLIENTS = int(os.environ.get("BENCH_OVERLOAD_MONEY_CLIENTS", "4"))
DURATION_S = float(os.environ.get("BENCH_OVERLOAD_DURATION_S", "10"))
HEAVY_READ = """
query Heavy {
  viewer { accounts(first: 20) { edges { node { id
    transactions(first: 50) { edges { node { id amount { amount } } } }
  } } } }
}
"""


class Tally:
    def __init__(self) -> None:
        self.ok = self.total = self.shed = 0

    def rate(self) -> float:
        return 100.0 * self.ok / self.total if self.total else 0.0


async def _heavy(http: httpx.AsyncClient, token: str, deadline: float, tally: Tally) -> None:
    while time.monotonic() < deadline:
        response = await http.post(
            "/graphql", json={"query": HEAVY_READ}, headers={"authorization": f"Bearer {token}"}
        )
        tally.total += 1
        tally.ok += response.status_code == 200 and bool(response.json().get("data"))
        tally.shed += response.status_code == 503


async def _money(
    http: httpx.AsyncClient, customer: Any, payee: str, deadline: float, tally: Tally
) -> None:
    while time.monotonic() < deadline:
        variables = {
            "input": {
                "idempotencyKey": str(uuid.uuid4()),
                "fromAccountId": customer.account_ids[0],
                "toAccountId": payee,
                "amount": {"amount": "0.01", "currency": "USD"},
                "memo": "overload",
            }
        }
        response = await http.post(
            "/graphql",
            json={"query": TRANSFER_MUTATION, "variables": variables},
            headers={"authorization": f"Bearer {customer.token}"},
        )
        tally.total += 1
        body = response.json() if response.status_code == 200 else {}
        created = (body.get("data") or {}).get("createTransfer") or {}
        tally.ok += bool(created) and not created.get("userErrors") and not body.get("errors")


async def _drive(port: int, stage: Any) -> tuple[Tally, Tally]:
    heavy, money = Tally(), Tally()
    viewers, customers = stage.population.viewers, stage.population.customers
    limits = httpx.Limits(max_connections=HEAVY_CLIENTS + MONEY_CLIENTS)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=120.0, limits=limits
    ) as http:
        deadline = time.monotonic() + DURATION_S
        await asyncio.gather(
            *(
                _heavy(http, viewers[i % len(viewers)].token, deadline, heavy)
                for i in range(HEAVY_CLIENTS)
            ),
            *(
                _money(
                    http,
                    customers[i],
                    customers[i + MONEY_CLIENTS].account_ids[0],
                    deadline,
                    money,
                )
                for i in range(MONEY_CLIENTS)
            ),
        )
    return heavy, money


def run(processes: Processes, stage: Any) -> bool:
    """Print both success rates; True when money writes succeed above 99 %."""
    port = free_port()
    server, log = processes.start(
        "bff-server-overload",
        bff_argv(),
        {**os.environ, "BFF_PORT": str(port), "BFF_FRAUD_SCREENING": "false"},
    )
    wait_until_ready(server, log, port)
    heavy, money = asyncio.run(_drive(port, stage))
    processes.stop(server)
    passed = money.rate() > 99.0
    print(
        f"\n[10] overload: {HEAVY_CLIENTS} heavy-read clients + {MONEY_CLIENTS} createTransfer "
        f"clients, {DURATION_S:.0f} s"
    )
    print(
        f"  money writes: {money.ok}/{money.total} succeeded, {money.rate():.1f} % "
        f"(goal > 99 %, {'met' if passed else 'MISSED'})"
    )
    print(
        f"  heavy reads : {heavy.ok}/{heavy.total} succeeded, {heavy.rate():.1f} %, "
        f"{heavy.shed} shed with 503 OVERLOADED"
    )
    return passed
