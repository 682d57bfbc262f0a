"""The ``chunks`` table's name and columns: the one list the writer (:mod:`indexer.store`) and the readers
(:mod:`indexer.query`) both use.

Every column but ``overlay`` is a field of :class:`~indexer.model.Chunk`; ``overlay`` marks rows of an unsaved
editor buffer. Columns flagged ``hit`` are the ones a query reads back into an :class:`indexer.query.Hit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TABLE_NAME = "chunks"
OVERLAY = "overlay"  # the one column that is not a Chunk field


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool = True
    hit: bool = False  # read back by queries


_STRING = pa.string()
_STRINGS = pa.list_(_STRING)

COLUMNS: tuple[Column, ...] = (
    Column("id", _STRING, nullable=False, hit=True),
    Column("path", _STRING, nullable=False, hit=True),
    Column("language", _STRING, hit=True),
    Column("symbol", _STRING, hit=True),
    Column("qualified_name", _STRING, hit=True),
    Column("kind", _STRING, hit=True),
    Column("start_line", pa.int32(), hit=True),
    Column("end_line", pa.int32(), hit=True),
    Column("signature", _STRING, hit=True),
    Column("scope", _STRING, hit=True),
    Column("text", _STRING, hit=True),
    Column("content_hash", _STRING),
    Column("defines", _STRINGS),
    Column("uses", _STRINGS),
    Column("tokens", _STRING),
    Column(OVERLAY, pa.bool_(), hit=True),
)

SCHEMA = pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in COLUMNS])
HIT_COLUMNS = [c.name for c in COLUMNS if c.hit]  # what the readers select for a Hit
