"""Chroma, reached through its HTTP server.

Why a server even on one machine: Chroma's embedded `PersistentClient` cannot be shared between
processes. A web process that opened the store before a worker wrote to it fails with
"Error creating hnsw segment reader: Nothing found on disk" (reproduced with chromadb 1.5.9), and
several writer processes corrupt it. `make run` therefore starts Chroma's own server on
loopback over a directory on local disk (`CHROMA_PATH`); production points `CHROMA_HOST` at a
Chroma server elsewhere. Every process, web or worker, is then a plain client.

One Chroma collection per DocAnalyst collection: a search is scoped by choosing collections,
not by a metadata filter, which keeps the query at the unfiltered cost (a `where` filter over a
large collection is ~30x slower) and keeps other collections' vectors out of reach entirely.
We always pass our own embeddings; Chroma's default embedding function is never used.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings

T = TypeVar("T")


@dataclass(frozen=True)
class VectorRecord:
    id: str
    embedding: list[float]
    text: str
    metadata: dict[str, str | int | float | bool]


@dataclass(frozen=True)
class VectorHit:
    id: str
    score: float  # cosine similarity, 1 = identical
    metadata: dict[str, Any]


class ChromaStore:
    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        # Collection handles by name, for reads (see `_collection`).
        self._handles: dict[str, Any] = {}

    def collection_name(self, collection_id: int, versions: bool = False) -> str:
        """Latest versions live in `<prefix>-c<id>`; superseded versions in `<prefix>-c<id>-versions`,
        so the default search never pays for (or returns) them."""
        return f"{self.prefix}-c{collection_id}{'-versions' if versions else ''}"

    def _collection(self, collection_id: int, versions: bool = False, cached: bool = False) -> Any:
        """The Chroma collection (created if absent). Writes always look it up afresh; reads may use
        the handle cached by an earlier lookup (a lookup is an HTTP round trip, a search needs several)."""
        name = self.collection_name(collection_id, versions)
        if cached and name in self._handles:
            return self._handles[name]
        handle = self.client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"}, embedding_function=None)
        self._handles[name] = handle
        return handle

    def _read(self, collection_id: int, versions: bool, action: Callable[[Any], T]) -> T:
        """Run a read on the cached handle; if the collection was dropped and re-created meanwhile
        (by another process), look it up again once."""
        try:
            return action(self._collection(collection_id, versions, cached=True))
        except Exception as exc:
            if "NotFound" not in type(exc).__name__ and "does not exist" not in str(exc):
                raise
            return action(self._collection(collection_id, versions))

    def _move(self, collection_id: int, document_id: int, to_versions: bool) -> None:
        source = self._collection(collection_id, versions=not to_versions)
        found = source.get(where={"document_id": document_id}, include=["embeddings", "documents", "metadatas"])
        if not found["ids"]:
            return
        self._collection(collection_id, versions=to_versions).upsert(
            ids=found["ids"], embeddings=found["embeddings"], documents=found["documents"], metadatas=found["metadatas"]
        )
        source.delete(ids=found["ids"])

    def archive_document(self, collection_id: int, document_id: int) -> None:
        """A newer version became the latest: move this one's vectors out of the default search."""
        self._move(collection_id, document_id, to_versions=True)

    def restore_document(self, collection_id: int, document_id: int) -> None:
        self._move(collection_id, document_id, to_versions=False)

    def drop_collection(self, collection_id: int) -> None:
        for versions in (False, True):
            with contextlib.suppress(Exception):  # absent already
                self.client.delete_collection(self.collection_name(collection_id, versions))

    def replace_document(self, collection_id: int, document_id: int, records: Sequence[VectorRecord]) -> None:
        """Make the store hold exactly `records` for this document (idempotent)."""
        collection = self._collection(collection_id)
        keep = {record.id for record in records}
        existing = collection.get(where={"document_id": document_id}, include=[])["ids"]
        stale = [vector_id for vector_id in existing if vector_id not in keep]
        if stale:
            collection.delete(ids=stale)
        for start in range(0, len(records), 1000):
            batch = records[start : start + 1000]
            collection.upsert(
                ids=[r.id for r in batch],
                embeddings=[r.embedding for r in batch],
                documents=[r.text for r in batch],
                metadatas=[r.metadata for r in batch],
            )

    def embeddings(self, collection_id: int, ids: Sequence[str], versions: bool = True) -> dict[str, list[float]]:
        """Stored vectors by id, whether their document is the latest version or (unless `versions`
        is off) a superseded one."""
        found: dict[str, list[float]] = {}
        for in_versions in (False, True) if versions else (False,):
            result = self._read(collection_id, in_versions, lambda c: c.get(ids=list(ids), include=["embeddings"]))
            found.update(zip(result["ids"], result["embeddings"], strict=True))
        return found

    def delete_document(self, collection_id: int, document_id: int) -> None:
        for versions in (False, True):
            self._collection(collection_id, versions).delete(where={"document_id": document_id})

    def count(self, collection_id: int, document_id: int | None = None, versions: bool = False) -> int:
        collection = self._collection(collection_id, versions)
        if document_id is None:
            return int(collection.count())
        return len(collection.get(where={"document_id": document_id}, include=[])["ids"])

    def query(
        self,
        collection_ids: Iterable[int],
        embedding: Sequence[float],
        k: int,
        include_versions: bool = False,
        document_ids: Mapping[int, Sequence[int]] | None = None,
    ) -> list[VectorHit]:
        """Top-k over the given collections (and their superseded versions if asked), merged by
        similarity. `document_ids` (collection id -> its permitted document ids) narrows the query
        inside Chroma, so that k results are k permitted ones; a collection absent from it is skipped."""
        hits: list[VectorHit] = []
        wanted = list(collection_ids)
        targets = [(c, False) for c in wanted] + ([(c, True) for c in wanted] if include_versions else [])
        for collection_id, versions in targets:
            where: dict[str, Any] | None = None
            if document_ids is not None:
                allowed = list(document_ids.get(collection_id, ()))
                if not allowed:
                    continue
                where = {"document_id": allowed[0]} if len(allowed) == 1 else {"document_id": {"$in": allowed}}

            def search(collection: Any, where: dict[str, Any] | None = where) -> Any:
                if collection.count() == 0:
                    return None
                return collection.query(
                    query_embeddings=[list(embedding)], n_results=k, where=where, include=["metadatas", "distances"]
                )

            result = self._read(collection_id, versions, search)
            if result is None:
                continue
            for vector_id, distance, metadata in zip(
                result["ids"][0], result["distances"][0], result["metadatas"][0], strict=True
            ):
                hits.append(VectorHit(id=vector_id, score=1.0 - float(distance), metadata=dict(metadata or {})))
        hits.sort(key=lambda hit: hit.score, reverse=True)
        return hits[:k]

    def heartbeat(self) -> int:
        return int(self.client.heartbeat())


@functools.cache
def get_vector_store() -> ChromaStore:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.HttpClient(
        host=settings.CHROMA_HOST,
        port=settings.CHROMA_PORT,
        ssl=settings.CHROMA_SSL,
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    return ChromaStore(client, prefix=settings.CHROMA_COLLECTION_PREFIX)
