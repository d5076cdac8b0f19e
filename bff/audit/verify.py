"""`bff audit verify`: walk every chain of the audit log and name the first entry that does not
hold, against the heads table or, better, against a signed anchor kept outside the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bff.audit.anchor import Head
from bff.audit.chain import Finding, Link, Tampering, first_break
from bff.db.repositories.audit import chain_heads, chain_rows


@dataclass(frozen=True, slots=True)
class Verification:
    entries: int
    # The last entry of each chain that has one, as walked.
    heads: list[Head]
    # The first break of each broken chain, in entry order.
    findings: list[Finding]

    @property
    def intact(self) -> bool:
        return not self.findings


async def verify_log(engine: AsyncEngine, anchor: Sequence[Head] | None = None) -> Verification:
    """Walk the log in one snapshot (appends may go on meanwhile). Without `anchor`, each chain
    must end at the head the heads table records; with it, each chain must hold the anchored
    entry, unchanged, at its position."""
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        await connection.begin()
        recorded = {
            chain: (position, hash_) for chain, position, hash_ in await chain_heads(connection)
        }
        chains: dict[int, list[Link]] = {}
        entries = 0
        async for row in chain_rows(connection):
            entries += 1
            chains.setdefault(row["chain"], []).append(Link.of(row))
    # A chain is only held in memory while it is checked: about 200 bytes an entry.
    findings: list[Finding] = []
    anchored = {chain: (position, hash_) for chain, position, hash_ in anchor or ()}
    for chain in sorted(set(chains) | set(anchored) | set(recorded)):
        links = chains.get(chain, [])
        finding = first_break(links, None if anchor is not None else recorded.get(chain))
        if finding is None and chain in anchored:
            finding = _against_anchor(chain, links, *anchored[chain])
        if finding is not None:
            findings.append(finding)
    heads = [(chain, links[-1].position, links[-1].hash) for chain, links in sorted(chains.items())]
    findings.sort(key=lambda finding: (finding.entry_id is None, finding.entry_id or 0))
    return Verification(entries, heads, findings)


def _against_anchor(chain: int, links: list[Link], position: int, hash_: str) -> Finding | None:
    if any(link.position == position and link.hash == hash_ for link in links):
        return None
    if any(link.hash == hash_ for link in links):
        # The anchored entry is there, at another place: entries before it were moved.
        return Finding(Tampering.REORDERED, chain, None, position, "the anchored entry moved")
    kind = Tampering.REMOVED if len(links) < position else Tampering.CHANGED
    message = f"the anchored entry at position {position} is not in the chain any more"
    return Finding(kind, chain, None, position, message)
