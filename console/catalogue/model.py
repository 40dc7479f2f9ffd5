"""The catalogue as data: rows with provenance, operations and their contracts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from console.catalogue import vocabulary as vocab


@dataclass(frozen=True, slots=True)
class Contract:
    """One promise: a result contract or a policy note, with its parameters.

    ``Contract("retry", {"max_retries": 3})``; parameters come from the printed text.
    """

    slug: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def kind(self) -> str:
        """"result" or "policy"."""
        return vocab.kind_of(self.slug)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Identity including parameters (two rate limits with other numbers differ)."""
        return self.slug, tuple(sorted((k, repr(v)) for k, v in self.params.items()))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Contract) and self.key == other.key

    def label(self, lang: str = "en") -> str:
        return vocab.label(self.slug, lang, self.params)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": slug, **params}``: the shape of the JSONL export."""
        return {"kind": self.slug, **self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contract:
        data = dict(data)
        slug = data.pop("kind")
        return cls(slug, data)


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the source document, where it came from, and what it says."""

    row: int                 # 1-based, in document order
    page: int | None         # page of the source document where the row starts
    path: str
    method: str
    action: str              # action slug
    result: Contract
    policy: Contract
    description: str = ""
    line: int | None = None  # line of the file where the row starts

    @property
    def operation_key(self) -> tuple[str, str, str]:
        return self.path, self.method, self.action

    @property
    def domain(self) -> str:
        return vocab.domain_of(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "page": self.page,
            "path": self.path,
            "method": self.method,
            "action": self.action,
            "result": self.result.to_dict(),
            "policy": self.policy.to_dict(),
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Operation:
    """One (path, method, action) and the union of its rows' contracts."""

    path: str
    method: str
    action: str
    contracts: tuple[Contract, ...]
    rows: tuple[int, ...]
    pages: tuple[int, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return self.path, self.method, self.action

    @property
    def domain(self) -> str:
        return vocab.domain_of(self.path)

    @property
    def slugs(self) -> frozenset[str]:
        return frozenset(c.slug for c in self.contracts)

    def has(self, slug: str) -> bool:
        return slug in self.slugs

    def contract(self, slug: str) -> Contract | None:
        """The contract with ``slug``; where rows disagree on a parameter, the strictest."""
        found = [c for c in self.contracts if c.slug == slug]
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        strict_key = {"rate-limit": "limit", "latency-sla": "max_ms", "retry": "max_retries"}.get(slug)
        if strict_key:
            return min(found, key=lambda c: c.params.get(strict_key, 0))
        return found[0]

    @property
    def scope(self) -> str:
        """The OAuth2 scope the operation needs: ``<domain>:read`` or ``<domain>:write``."""
        suffix = "read" if self.action in vocab.READ_ACTIONS else "write"
        return f"{self.domain}:{suffix}"

    @property
    def is_safe(self) -> bool:
        return self.method in vocab.SAFE_METHODS

    def label(self) -> str:
        return f"{self.method} {self.path}?action={self.action}"


@dataclass
class Catalogue:
    """Rows in document order and the operations they name."""

    rows: list[Row]
    source: str = ""
    title: str = ""
    #: Import notes (corrected typos, joined page breaks): (row, page, line, message).
    notes: list[ImportNote] = field(default_factory=list)
    _operations: list[Operation] | None = field(default=None, init=False, repr=False)

    @property
    def operations(self) -> list[Operation]:
        if self._operations is None:
            self._operations = build_operations(self.rows)
        return self._operations

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(r.path for r in self.rows))

    def operation(self, path: str, method: str, action: str) -> Operation | None:
        key = (path, method.upper(), action)
        return next((op for op in self.operations if op.key == key), None)

    def operations_for(self, path: str, method: str | None = None) -> list[Operation]:
        return [op for op in self.operations
                if op.path == path and (method is None or op.method == method.upper())]

    def methods_for(self, path: str) -> list[str]:
        present = {op.method for op in self.operations if op.path == path}
        return [m for m in vocab.METHODS if m in present]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class ImportNote:
    """Something the importer found or did that a reader should know.

    ``severity`` is "error" (the value is not in the vocabulary: the row keeps the closest known
    value, and a strict import refuses the file), "warning" (a typo snapped to the vocabulary) or
    "info" (a page break joined).
    """

    severity: str
    rule: str
    row: int | None
    page: int | None
    line: int | None
    message: str


def build_operations(rows: Iterable[Row]) -> list[Operation]:
    """Group rows by (path, method, action) in order of first appearance."""
    grouped: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.operation_key, []).append(row)
    operations = []
    for (path, method, action), members in grouped.items():
        contracts: dict[Contract, None] = {}
        for row in members:
            contracts.setdefault(row.result, None)
        for row in members:
            contracts.setdefault(row.policy, None)
        for placeholder in [c for c in contracts if c.slug in vocab.UNSTATED]:
            del contracts[placeholder]
        pages = tuple(dict.fromkeys(r.page for r in members if r.page is not None))
        operations.append(Operation(path, method, action, tuple(contracts),
                                    tuple(r.row for r in members), pages))
    return operations
