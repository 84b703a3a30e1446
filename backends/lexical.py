"""The words of a query, counted on the pages of the documents a user may search — in the
database's own full-text index.

Search ranks pages (`ingest.Page`: the text of one page, or of one passage for formats without
pages) with BM25, and a page's document with BM25 over its pages and title (see
`search.ranking`). Both need, for each query term, which pages (and titles) in the
user's scope contain it and how often. This
module asks the database exactly that; the arithmetic is done by the caller. Statistics are taken
over the scope (the documents the user may search, after filters), never over the whole table:
a user's ranking does not depend on collections they cannot read.

SQLite: an FTS5 index over `ingest_page` (tokenizer `unicode61`, diacritics removed, no
stemming) and its `fts5vocab` instance table, which lists each term's occurrences per page
(migration `ingest.0006`). PostgreSQL: a stored `tsvector` column (`simple` configuration: lower
case, no stemming) with a GIN index; a term's count on a page is the number of its positions.

Query syntax is deliberately small: `"quoted phrases"` must all appear; every other word ranks.
A word made of several tokens (`TC-4410-B`, `9.2`) is matched as a phrase of its tokens, never as
loose tokens. User text never reaches the engine's own query syntax: every term is rebuilt from
word characters and quoted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
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
# Letters and digits, as FTS5's unicode61 tokenizer splits them (underscore is a separator there).
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 32


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens without diacritics: what the full-text index stores for `text`."""
    if text.isascii():
        return _TOKEN.findall(text.lower())
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return _TOKEN.findall(plain)


@dataclass(frozen=True)
class LexicalTerm:
    original: str  # as the user wrote it
    tokens: tuple[str, ...]  # its word tokens (one, or a phrase of several)


@dataclass(frozen=True)
class LexicalQuery:
    required: list[LexicalTerm] = field(default_factory=list)
    optional: list[LexicalTerm] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.required and not self.optional

    @property
    def terms(self) -> list[LexicalTerm]:
        """Every distinct term, required ones first: what ranks."""
        seen: set[tuple[str, ...]] = set()
        unique = []
        for term in [*self.required, *self.optional]:
            if term.tokens not in seen:
                seen.add(term.tokens)
                unique.append(term)
        return unique


def _term(text: str) -> LexicalTerm | None:
    found = tuple(tokens(text))
    return LexicalTerm(original=text.strip(), tokens=found) if found else None


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


@dataclass(frozen=True)
class PageCounts:
    """How often one term occurs on each page of the scope that contains it."""

    term: LexicalTerm
    counts: dict[int, int]  # page id -> occurrences (a phrase: its rarest token's count)
    documents: dict[int, int]  # document id -> how many of its pages contain the term


@dataclass(frozen=True)
class ScopeStatistics:
    """The pages a search may rank: how many, how long, and per document."""

    pages: int
    words: int
    pages_per_document: dict[int, int]
    words_of_page: dict[int, int] = field(default_factory=dict)  # filled for the pages that contain a term


SqlQuery = tuple[str, tuple[Any, ...]]


def _fts5_phrase(term: LexicalTerm) -> str:
    return '"' + " ".join(term.tokens) + '"'  # tokens are word characters only: nothing to escape


def scope_statistics(document_sql: SqlQuery) -> ScopeStatistics:
    """Pages and words of the documents `document_sql` selects (the caller's permission and filter
    query, a `SELECT id ...` with its parameters)."""
    documents, params = document_sql
    with connection.cursor() as cursor:
        # Interpolated: only our own SQL (the scope subquery compiled by the ORM); no user text.
        cursor.execute(
            f"""SELECT document_id, count(*), sum(words) FROM ingest_page
                WHERE document_id IN ({documents}) GROUP BY document_id""",  # noqa: S608
            list(params),
        )
        rows = cursor.fetchall()
    return ScopeStatistics(
        pages=sum(int(r[1]) for r in rows),
        words=sum(int(r[2] or 0) for r in rows),
        pages_per_document={int(r[0]): int(r[1]) for r in rows},
    )


def page_counts(query: LexicalQuery, document_sql: SqlQuery) -> tuple[list[PageCounts], dict[int, int]]:
    """For each term of the query, its occurrences on every page in scope that contains it; and the
    length in words of each of those pages."""
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"No full-text search for the {vendor} database")
    found: list[PageCounts] = []
    words: dict[int, int] = {}
    with connection.cursor() as cursor:
        for term in query.terms:
            rows = (
                _term_rows_sqlite(cursor, term, document_sql)
                if vendor == "sqlite"
                else _term_rows_postgresql(cursor, term, document_sql)
            )
            counts: dict[int, int] = {}
            documents: dict[int, int] = {}
            for page_id, document_id, page_words, count in rows:
                counts[int(page_id)] = int(count)
                documents[int(document_id)] = documents.get(int(document_id), 0) + 1
                words[int(page_id)] = int(page_words)
            found.append(PageCounts(term=term, counts=counts, documents=documents))
    return found, words


def _term_rows_sqlite(cursor: Any, term: LexicalTerm, document_sql: SqlQuery) -> list[tuple[int, int, int, int]]:
    documents, params = document_sql
    # Interpolated: only our own SQL (the scope subquery compiled by the ORM); user text is a parameter.
    one_token = f"""
        SELECT v.doc, p.document_id, p.words, count(*) FROM ingest_page_terms AS v
        JOIN ingest_page AS p ON p.id = v.doc
        WHERE v.term = %s AND p.document_id IN ({documents}) GROUP BY v.doc
    """  # noqa: S608
    if len(term.tokens) == 1:
        cursor.execute(one_token, [term.tokens[0], *params])
        return [tuple(row) for row in cursor.fetchall()]
    # A phrase: the pages that contain it, counted by its rarest token there.
    cursor.execute(
        f"""SELECT ingest_page_fts.rowid FROM ingest_page_fts JOIN ingest_page ON ingest_page.id = ingest_page_fts.rowid
            WHERE ingest_page_fts MATCH %s AND ingest_page.document_id IN ({documents})""",  # noqa: S608
        [_fts5_phrase(term), *params],
    )
    having = {int(row[0]) for row in cursor.fetchall()}
    if not having:
        return []
    best: dict[int, tuple[int, int, int, int]] = {}
    for token in dict.fromkeys(term.tokens):
        cursor.execute(one_token, [token, *params])
        for page_id, document_id, page_words, count in cursor.fetchall():
            if page_id in having and (page_id not in best or count < best[page_id][3]):
                best[page_id] = (page_id, document_id, page_words, count)
    return list(best.values())


def _term_rows_postgresql(cursor: Any, term: LexicalTerm, document_sql: SqlQuery) -> list[tuple[int, int, int, int]]:
    documents, params = document_sql
    # Interpolated: only our own SQL (the scope subquery compiled by the ORM); user text is a parameter.
    cursor.execute(
        f"""SELECT p.id, p.document_id, p.words,
                   (SELECT coalesce(min(cardinality(u.positions)), 0) FROM unnest(p.search_vector) AS u
                    WHERE u.lexeme = ANY(%s))
            FROM ingest_page AS p
            WHERE p.search_vector @@ phraseto_tsquery('simple'::regconfig, %s)
              AND p.document_id IN ({documents})""",  # noqa: S608
        [list(term.tokens), " ".join(term.tokens), *params],
    )
    return [tuple(row) for row in cursor.fetchall() if row[3] > 0]


def titles_containing(query: LexicalQuery, document_sql: SqlQuery) -> dict[tuple[str, ...], set[int]]:
    """For each term of the query, the documents in scope whose title contains it."""
    documents, params = document_sql
    found: dict[tuple[str, ...], set[int]] = {}
    with connection.cursor() as cursor:
        for term in query.terms:
            # Interpolated: only our own SQL (the scope subquery compiled by the ORM); user text is a parameter.
            if connection.vendor == "sqlite":
                cursor.execute(
                    f"""SELECT ingest_document.id FROM ingest_title_fts
                        JOIN ingest_document ON ingest_document.id = ingest_title_fts.rowid
                        WHERE ingest_title_fts MATCH %s AND ingest_document.id IN ({documents})""",  # noqa: S608
                    [_fts5_phrase(term), *params],
                )
            elif connection.vendor == "postgresql":
                cursor.execute(
                    f"""SELECT id FROM ingest_document
                        WHERE to_tsvector('simple'::regconfig, regexp_replace(title, '[^[:alnum:]]+', ' ', 'g'))
                              @@ phraseto_tsquery('simple'::regconfig, %s)
                          AND id IN ({documents})""",  # noqa: S608
                    [" ".join(term.tokens), *params],
                )
            else:
                raise NotImplementedError(f"No full-text search for the {connection.vendor} database")
            found[term.tokens] = {int(row[0]) for row in cursor.fetchall()}
    return found


def pages_containing_all(terms: Sequence[LexicalTerm], document_sql: SqlQuery) -> set[int]:
    """The pages in scope that contain every one of `terms` (as phrases): where a quoted phrase
    must appear."""
    if not terms:
        return set()
    documents, params = document_sql
    with connection.cursor() as cursor:
        # Interpolated: only our own SQL (the scope subquery compiled by the ORM); user text is a parameter.
        if connection.vendor == "sqlite":
            cursor.execute(
                f"""SELECT ingest_page_fts.rowid FROM ingest_page_fts
                    JOIN ingest_page ON ingest_page.id = ingest_page_fts.rowid
                    WHERE ingest_page_fts MATCH %s AND ingest_page.document_id IN ({documents})""",  # noqa: S608
                [" AND ".join(_fts5_phrase(t) for t in terms), *params],
            )
        elif connection.vendor == "postgresql":
            every = " && ".join(["phraseto_tsquery('simple'::regconfig, %s)"] * len(terms))
            cursor.execute(
                f"""SELECT id FROM ingest_page WHERE search_vector @@ ({every})
                    AND document_id IN ({documents})""",  # noqa: S608
                [*(" ".join(t.tokens) for t in terms), *params],
            )
        else:
            raise NotImplementedError(f"No full-text search for the {connection.vendor} database")
        return {int(row[0]) for row in cursor.fetchall()}
