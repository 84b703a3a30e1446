"""Lexical (BM25-style) search over chunk text, in the database's own full-text engine.

SQLite uses FTS5 (`bm25()` ranking, Porter stemming); PostgreSQL uses its `tsvector` index
(`ts_rank_cd`). Both indexes live beside the chunk rows (migration `ingest.0002`), so a chunk is
searchable exactly while its row exists. This is the leg that finds what an embedder blurs:
exact phrases, part numbers (`TC-4410-B`), section numbers (`§ 9.2`) and standards (`ISO 2768-m`).

Query syntax is deliberately small: `"quoted phrases"` must all appear; every other word is
optional and only ranks. A word made of several tokens (`TC-4410-B`, `9.2`) is matched as a
phrase of its tokens, never as loose tokens. User text never reaches the engine's own query
syntax: every term is rebuilt from word characters and quoted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

# Words too common to rank anything; dropped from the optional terms (never from quoted phrases).
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here hers him his
    how i if in into is it its itself just me more most my no nor not of off on once only or other our ours out over
    own same she should so some such than that the their theirs them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your yours""".split()
)

_PHRASE = re.compile(r'"([^"]*)"')
# "Apple's" is a word about Apple: without this it would be the phrase "apple s", which the
# plain "Apple" elsewhere in a document never matches.
_POSSESSIVE = re.compile(r"(\w)['’]s\b", re.IGNORECASE)
_TOKEN = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32


@dataclass(frozen=True)
class LexicalTerm:
    original: str  # as the user wrote it (PostgreSQL parses it with the document's own parser)
    tokens: tuple[str, ...]  # its word tokens, lower-cased (SQLite phrase)


@dataclass(frozen=True)
class LexicalQuery:
    required: list[LexicalTerm] = field(default_factory=list)
    optional: list[LexicalTerm] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.required and not self.optional


def _term(text: str) -> LexicalTerm | None:
    tokens = tuple(token.lower() for token in _TOKEN.findall(text))
    return LexicalTerm(original=text.strip(), tokens=tokens) if tokens else None


def parse_query(text: str) -> LexicalQuery:
    required = [t for phrase in _PHRASE.findall(text) if (t := _term(phrase))]
    rest = _POSSESSIVE.sub(r"\1", _PHRASE.sub(" ", text).replace('"', " "))
    words = [t for word in rest.split() if (t := _term(word.strip(".,;:!?()[]{}'`")))]
    optional = [t for t in words if len(t.tokens) > 1 or t.tokens[0] not in STOPWORDS] or words
    seen: set[tuple[str, ...]] = set()
    unique = []
    for term in optional:
        if term.tokens not in seen:
            seen.add(term.tokens)
            unique.append(term)
    return LexicalQuery(required=required[:MAX_TERMS], optional=unique[:MAX_TERMS])


def _fts5_phrase(term: LexicalTerm) -> str:
    return '"' + " ".join(term.tokens) + '"'  # tokens are word characters only: nothing to escape


def fts5_match(query: LexicalQuery) -> str:
    """The FTS5 MATCH expression. Required phrases are ANDed; the optional terms are ORed in
    beside them so that `bm25()` ranks by them too without requiring them."""
    anything = " OR ".join(_fts5_phrase(t) for t in [*query.required, *query.optional])
    if not query.required:
        return anything
    return " AND ".join([*(_fts5_phrase(t) for t in query.required), f"({anything})"])


def exact_terms(query: LexicalQuery) -> list[LexicalTerm]:
    """The terms a user means literally: quoted phrases, and words of several tokens with a digit
    in them — part numbers, section numbers, standards (TC-4410-B, 9.2, 2768-m) — but not
    hyphenated words (year-over-year, non-GAAP)."""
    coded = [t for t in query.optional if len(t.tokens) > 1 and any(c.isdigit() for c in t.original)]
    return [*query.required, *coded]


def count_matches(term: LexicalTerm, cap: int, document_sql: tuple[str, tuple[Any, ...]]) -> int:
    """How many chunks of the documents in `document_sql` contain the term (counting stops at
    `cap`): how selective it is *for this user*. Counted within the caller's scope, so whether a
    term is rare never depends on documents the user may not read."""
    documents, params = document_sql
    with connection.cursor() as cursor:
        # Interpolated: only our own SQL (the scope subquery compiled by the ORM); user text is a parameter.
        if connection.vendor == "sqlite":
            cursor.execute(
                f"""SELECT count(*) FROM (
                    SELECT 1 FROM ingest_chunk_fts JOIN ingest_chunk ON ingest_chunk.id = ingest_chunk_fts.rowid
                    WHERE ingest_chunk_fts MATCH %s AND ingest_chunk.document_id IN ({documents}) LIMIT %s)""",  # noqa: S608
                [_fts5_phrase(term), *params, cap],
            )
        else:
            cursor.execute(
                f"""SELECT count(*) FROM (SELECT 1 FROM ingest_chunk WHERE to_tsvector('english'::regconfig,
                    ingest_chunk.context || ' ' || ingest_chunk.text) @@ phraseto_tsquery('english'::regconfig, %s)
                    AND ingest_chunk.document_id IN ({documents}) LIMIT %s) AS found""",  # noqa: S608
                [term.original, *params, cap],
            )
        return int(cursor.fetchone()[0])


def search_chunks(text: str, document_sql: tuple[str, tuple[Any, ...]], limit: int) -> list[tuple[int, float]]:
    """`(chunk id, score)` best first (higher is better) among the chunks of the documents that
    `document_sql` (a `SELECT id ...` with its parameters) selects: the caller's permission and
    filter query, applied inside this query so that `limit` results are `limit` permitted ones."""
    query = parse_query(text)
    if query.is_empty or limit <= 0:
        return []
    if connection.vendor == "sqlite":
        return _search_sqlite(query, document_sql, limit)
    if connection.vendor == "postgresql":
        return _search_postgresql(query, document_sql, limit)
    raise NotImplementedError(f"No full-text search for the {connection.vendor} database")


def search_front_matter(text: str, document_sql: tuple[str, tuple[Any, ...]]) -> dict[int, float]:
    """`{document id: score}` for the documents in `document_sql` whose title or front matter (the
    opening text: a filing's cover, a contract's parties, a drawing's title block) contains terms
    of the query. A document names what it is about there and rarely again in its tables.

    Scoring is BM25 reduced to what front matter needs: each term counts once, weighted by its
    inverse document frequency *among the documents searched* — so the words that every cover
    carries ("quarterly report", "indicate by check mark") count for almost nothing, and a name
    on four covers out of twenty counts a lot."""
    query = parse_query(text)
    terms = {t.tokens: t for t in [*query.required, *query.optional]}
    if not terms:
        return {}
    documents, params = document_sql
    scores: dict[int, float] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ingest_document WHERE id IN ({documents})", list(params))  # noqa: S608
        total = int(cursor.fetchone()[0])
        if total == 0:
            return {}
        for term in terms.values():
            matched = _front_matter_matches(cursor, term, document_sql)
            weight = math.log(1 + (total - len(matched) + 0.5) / (len(matched) + 0.5))
            for document_id in matched:
                scores[document_id] = scores.get(document_id, 0.0) + weight
    return scores


def documents_containing(terms: list[LexicalTerm], document_sql: tuple[str, tuple[Any, ...]]) -> set[int]:
    """The documents in `document_sql` with a passage that contains any of `terms` (as phrases)."""
    if not terms:
        return set()
    documents, params = document_sql
    with connection.cursor() as cursor:
        # Interpolated: only our own SQL (the scope subquery compiled by the ORM); user text is a parameter.
        if connection.vendor == "sqlite":
            sql = f"""SELECT DISTINCT ingest_chunk.document_id
                      FROM ingest_chunk_fts JOIN ingest_chunk ON ingest_chunk.id = ingest_chunk_fts.rowid
                      WHERE ingest_chunk_fts MATCH %s AND ingest_chunk.document_id IN ({documents})"""  # noqa: S608
            cursor.execute(sql, [" OR ".join(_fts5_phrase(t) for t in terms), *params])
        elif connection.vendor == "postgresql":
            any_term = " || ".join(["phraseto_tsquery('english'::regconfig, %s)"] * len(terms))
            sql = f"""SELECT DISTINCT document_id FROM ingest_chunk
                      WHERE to_tsvector('english'::regconfig, context || ' ' || text) @@ ({any_term})
                      AND document_id IN ({documents})"""  # noqa: S608
            cursor.execute(sql, [*(t.original for t in terms), *params])
        else:
            raise NotImplementedError(f"No full-text search for the {connection.vendor} database")
        return {int(row[0]) for row in cursor.fetchall()}


def _front_matter_matches(cursor: Any, term: LexicalTerm, document_sql: tuple[str, tuple[Any, ...]]) -> list[int]:
    documents, params = document_sql
    # Interpolated: only our own SQL (the scope subquery compiled by the ORM); user text is a parameter.
    if connection.vendor == "sqlite":
        # Joined, not `rowid IN (...)`: FTS5 would take that as one index seek per document in scope.
        sql = f"""SELECT ingest_document.id FROM ingest_document_fts
                  JOIN ingest_document ON ingest_document.id = ingest_document_fts.rowid
                  WHERE ingest_document_fts MATCH %s AND ingest_document.id IN ({documents})"""  # noqa: S608
        cursor.execute(sql, [_fts5_phrase(term), *params])
    elif connection.vendor == "postgresql":
        sql = f"""SELECT id FROM ingest_document
                  WHERE to_tsvector('english'::regconfig, title || ' ' || front_matter)
                        @@ phraseto_tsquery('english'::regconfig, %s)
                  AND id IN ({documents})"""  # noqa: S608
        cursor.execute(sql, [term.original, *params])
    else:
        raise NotImplementedError(f"No full-text search for the {connection.vendor} database")
    return [int(row[0]) for row in cursor.fetchall()]


def _search_sqlite(
    query: LexicalQuery, document_sql: tuple[str, tuple[Any, ...]], limit: int
) -> list[tuple[int, float]]:
    documents, params = document_sql
    # Interpolated: only our own SQL (the scope subquery compiled by the ORM); user text is a parameter.
    sql = f"""
        SELECT ingest_chunk_fts.rowid, bm25(ingest_chunk_fts) AS rank
        FROM ingest_chunk_fts JOIN ingest_chunk ON ingest_chunk.id = ingest_chunk_fts.rowid
        WHERE ingest_chunk_fts MATCH %s AND ingest_chunk.document_id IN ({documents})
        ORDER BY rank LIMIT %s
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [fts5_match(query), *params, limit])
        return [(int(chunk_id), -float(rank)) for chunk_id, rank in cursor.fetchall()]


def _search_postgresql(
    query: LexicalQuery, document_sql: tuple[str, tuple[Any, ...]], limit: int
) -> list[tuple[int, float]]:
    documents, params = document_sql
    one = "phraseto_tsquery('english'::regconfig, %s)"
    every = [*query.required, *query.optional]
    rank_query = " || ".join([one] * len(every))
    match_query = " && ".join([one] * len(query.required)) if query.required else rank_query
    match_params = [t.original for t in query.required] if query.required else [t.original for t in every]
    vector = "to_tsvector('english'::regconfig, ingest_chunk.context || ' ' || ingest_chunk.text)"
    sql = f"""
        SELECT ingest_chunk.id, ts_rank_cd({vector}, ({rank_query}), 1) AS rank
        FROM ingest_chunk
        WHERE {vector} @@ ({match_query}) AND ingest_chunk.document_id IN ({documents})
        ORDER BY rank DESC, ingest_chunk.id LIMIT %s
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(t.original for t in every), *match_params, *params, limit])
        return [(int(chunk_id), float(rank)) for chunk_id, rank in cursor.fetchall()]
