"""What waits for a staff member, for the nightly staff digest: capabilities register a source each.

A source is `count(actor) -> int`: how many things wait for that staff member now (within their
roles and scope; 0 when the role does not do that work). The digest job (notifications) asks every
source for every staff member and sends one message listing the non-zero ones."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class DigestSource:
    name: str
    label: object  # lazy text: "Applications to verify"
    count: Callable  # (actor) -> int
    endpoint: str | None = None  # the page where the work is done


SOURCES: dict[str, DigestSource] = {}


def register_digest_source(name: str, label, count: Callable, endpoint: str | None = None) -> None:
    SOURCES[name] = DigestSource(name, label, count, endpoint)
