"""The Expo push API (https://docs.expo.dev/push-notifications/sending-notifications/): at most
100 messages per request, a ticket per message, receipts fetched later by ticket id, and
`DeviceNotRegistered` meaning the token is dead."""

from __future__ import annotations

from typing import Any

import httpx

from bff.notify.push import Outcome, PushMessage, PushResult

BATCH = 100  # Expo's documented maximum per request
RECEIPT_BATCH = 1000
_RETRY_STATUSES = {429, 500, 502, 503, 504}


def _ticket_result(ticket: dict[str, Any]) -> PushResult:
    if ticket.get("status") == "ok":
        return PushResult(Outcome.SENT, ticket_id=ticket.get("id"))
    error = (ticket.get("details") or {}).get("error")
    if error == "DeviceNotRegistered":
        return PushResult(Outcome.UNREGISTERED, detail=error)
    if error == "MessageRateExceeded":
        return PushResult(Outcome.RETRY, detail=error)
    return PushResult(Outcome.REJECTED, detail=error or ticket.get("message"))


class ExpoPush:
    def __init__(
        self, url: str, receipts_url: str, access_token: str | None, timeout_s: float
    ) -> None:
        headers = {"accept": "application/json", "accept-encoding": "gzip"}
        if access_token:
            headers["authorization"] = f"Bearer {access_token}"
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout_s)
        self._url = url
        self._receipts_url = receipts_url

    async def send(self, messages: list[PushMessage]) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(messages), BATCH):
            results += await self._send_batch(messages[start : start + BATCH])
        return results

    async def _send_batch(self, messages: list[PushMessage]) -> list[PushResult]:
        body = [
            {
                "to": message.token,
                "title": message.text.title,
                "body": message.text.body,
                "data": message.text.data,
                "sound": "default",
            }
            for message in messages
        ]
        try:
            response = await self._client.post(self._url, json=body)
        except httpx.HTTPError as error:
            return [PushResult(Outcome.RETRY, detail=type(error).__name__)] * len(messages)
        if response.status_code in _RETRY_STATUSES:
            return [PushResult(Outcome.RETRY, detail=f"HTTP {response.status_code}")] * len(
                messages
            )
        if response.status_code != 200:
            return [PushResult(Outcome.REJECTED, detail=f"HTTP {response.status_code}")] * len(
                messages
            )
        tickets = response.json().get("data") or []
        if len(tickets) != len(messages):
            return [PushResult(Outcome.RETRY, detail="ticket count mismatch")] * len(messages)
        return [_ticket_result(ticket) for ticket in tickets]

    async def receipts(self, ticket_ids: list[str]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for start in range(0, len(ticket_ids), RECEIPT_BATCH):
            chunk = ticket_ids[start : start + RECEIPT_BATCH]
            try:
                response = await self._client.post(self._receipts_url, json={"ids": chunk})
            except httpx.HTTPError:
                continue  # asked again on the next round
            if response.status_code != 200:
                continue
            for ticket_id, receipt in (response.json().get("data") or {}).items():
                outcomes[ticket_id] = _ticket_result({**receipt, "id": ticket_id}).outcome
        return outcomes

    async def close(self) -> None:
        await self._client.aclose()
