"""Subscriptions over graphql-transport-ws on a lean path beside Strawberry's: what an event
costs is paid once per cohort, not once per subscriber.

A `subscribe` whose document compiles (bff/api/compiled, the subscription's root field resolved
by its own resolver, each event's selection by the compiled plan) runs here; anything else (a
document that does not validate or compile, variables that do not coerce, a protocol breach) is
Strawberry's, as before, so the protocol's answers stay Strawberry's.

Subscribers of one event with the same document, variables and user (so the same read rights)
form a cohort: the first of them to see an event executes the selection and encodes the `next`
payload; the others reuse that text and only wrap it in their own envelope (the subscription
id). The source stream must yield the same object for the same event to every subscriber (the
resolvers memoise it), which is what makes the payload shareable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any, cast

import orjson
from cachetools import LRUCache
from graphql import GraphQLError
from graphql.execution.values import VariableValues
from graphql.pyutils import Path, is_awaitable
from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from bff.api.compiled.documents import CompiledDocuments
from bff.api.compiled.nodes import FieldPlan, Plan, Run
from bff.api.errors import classify
from bff.api.ws_refusal import TransportWSHandler

# Encoded payloads of recent events, per cohort: an event reaches all its subscribers within
# milliseconds, so a few thousand entries cover every event in flight.
_PAYLOADS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class _Live:
    """One subscription on the lean path."""

    plan: Plan
    field: FieldPlan  # the subscription's root field (validation allows exactly one)
    variables: VariableValues
    cohort: tuple[object, ...]
    envelope: str  # the `next` message up to its payload


class SharedPayloads:
    """The `next` payloads of recent events, keyed by the event object and the cohort."""

    def __init__(self, size: int = _PAYLOADS_KEPT) -> None:
        # The entry holds the event itself, so its id cannot be reused while the entry lives.
        self._payloads: LRUCache[tuple[int, tuple[object, ...]], tuple[object, str]] = LRUCache(
            size
        )

    def get(self, event: object, cohort: tuple[object, ...]) -> str | None:
        found = self._payloads.get((id(event), cohort))
        return found[1] if found is not None and found[0] is event else None

    def put(self, event: object, cohort: tuple[object, ...], payload: str) -> None:
        self._payloads[(id(event), cohort)] = (event, payload)


PAYLOADS = SharedPayloads()


class LiveTransportWSHandler(TransportWSHandler):
    """graphql-transport-ws with compiled subscriptions run on the lean path."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        live = self._live(message)
        if live is None:
            await super().handle_subscribe(message)
            return
        operation: Operation[Any, Any] = Operation(
            self,
            message["id"],
            message["payload"]["query"],
            message["payload"].get("variables"),
            message["payload"].get("operationName"),
        )
        operation.task = asyncio.create_task(self._run_live(operation, live))
        operation.task.add_done_callback(self._task_done)
        self.operations[message["id"]] = operation

    def _live(self, message: SubscribeMessage) -> _Live | None:
        """The compiled subscription, or None for Strawberry to handle the message."""
        documents: CompiledDocuments | None = getattr(self.view, "live", None)
        payload = message["payload"]
        query, name, raw = payload["query"], payload.get("operationName"), payload.get("variables")
        limit = self.max_subscriptions_per_connection
        if (
            documents is None
            or not self.connection_acknowledged
            or message["id"] in self.operations
            or (limit is not None and len(self.operations) >= limit)
            or not isinstance(query, str)
            or not isinstance(name, str | None)
            or not isinstance(raw, dict | None)
        ):
            return None
        # The connection's state holds a refusal for Strawberry to report without parsing again.
        state = getattr(getattr(self.context, "request", None), "state", None)
        found = documents.plan(query, name, raw, state)
        if found is None or len(found[0].fields) != 1:
            return None
        plan, variables = found
        actor = getattr(self.context, "actor", None)
        rights = (actor.user_id, actor.roles) if actor is not None else None
        cohort = (query, name, orjson.dumps(raw, option=orjson.OPT_SORT_KEYS), rights)
        envelope = '{"id":' + orjson.dumps(message["id"]).decode() + ',"type":"next","payload":'
        return _Live(plan, plan.fields[0], variables, cohort, envelope)

    async def _run_live(self, operation: Operation[Any, Any], live: _Live) -> None:
        run = Run(live.plan, self.context, live.variables)
        path = Path(None, live.field.response_name, live.plan.root_name)
        try:
            source = cast(AsyncIterator[object], live.field.resolve(run, None, path))
            async with aclosing(source):  # type: ignore[type-var]
                async for event in source:
                    payload = PAYLOADS.get(event, live.cohort)
                    if payload is None:
                        payload = await self._execute(live, event, path)
                    if operation.completed:
                        return
                    await self._send_text(live.envelope + payload + "}")
        except asyncio.CancelledError:
            raise
        except WebSocketDisconnected:
            return
        except Exception as error:
            # As Strawberry does: the stream's failure is one `next` with the error, then
            # `complete`.
            failure = error if isinstance(error, GraphQLError) else GraphQLError(str(error))
            if not isinstance(error, GraphQLError):
                failure.original_error = error
            failed = {"data": None, "errors": [classify(failure, self.context).formatted]}
            with suppress(Exception):  # a client gone meanwhile: nothing left to tell
                if not operation.completed:
                    await self._send_text(live.envelope + orjson.dumps(failed).decode() + "}")
        with suppress(Exception):
            # Forgets the operation first, whatever the send does.
            await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _execute(self, live: _Live, event: object, path: Path) -> str:
        """The event's `next` payload for the cohort, shared when it executed without error."""
        run = Run(live.plan, self.context, live.variables)
        field = live.field
        data: dict[str, Any] | None
        try:
            completed = field.completer.complete(run, field, path, event)
            if is_awaitable(completed):
                completed = await completed
            data = {field.response_name: completed}
        except GraphQLError as error:
            run.errors.add(error, None)
            data = None
        except Exception as raw:
            try:
                run.field_error(raw, field, field.return_type, path)
                data = {field.response_name: None}
            except GraphQLError as error:
                run.errors.add(error, None)
                data = None
        errors = run.errors.errors
        if not errors:
            payload = orjson.dumps({"data": data}).decode()
            PAYLOADS.put(event, live.cohort, payload)
            return payload
        formatted = [classify(error, self.context).formatted for error in errors]
        return orjson.dumps({"data": data, "errors": formatted}).decode()

    async def _send_text(self, text: str) -> None:
        try:
            await self.websocket.ws.send_text(text)  # type: ignore[attr-defined]
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc
