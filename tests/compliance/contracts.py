"""Generated contracts and specifications for the compliance tests: short lines (the PDF maker does
not wrap), one clause per line, planted values on known pages."""

from __future__ import annotations

PARTIES = ("Acme Widgets Ltd", "Borealis Engineering GmbH")


def contract_pages(cap: str = "USD 5,000,000", non_solicitation: bool = True) -> list[list[str]]:
    """A four-page services agreement. Page 3 holds the liability cap, page 4 the non-solicitation
    clause (dropped from the revision, whose later clauses are renumbered). No renewal clause."""
    later = 11 if non_solicitation else 10
    page_four = [
        "Miscellaneous",
        f"{later + 1}. Assignment. Neither party may assign this Agreement without prior written consent.",
        f"{later + 2}. Governing Law. This Agreement is governed by the laws of England and Wales.",
    ]
    if non_solicitation:
        page_four.insert(1, "11. Non-Solicitation. Neither party shall solicit the employees of the other party.")
    return [
        [
            "Master Services Agreement",
            f"This Agreement is made on 1 March 2024 between {PARTIES[0]} and {PARTIES[1]}.",
            "1. Definitions. Capitalised terms have the meanings given in this clause.",
            "2. Services. The Supplier shall provide the inspection services described in Schedule 1.",
        ],
        [
            "Term and Fees",
            "3. Term. This Agreement has a term of three (3) years from the Effective Date.",
            "4. Fees. The Customer shall pay the fees within thirty (30) days of each invoice.",
            "5. Confidentiality. Each party shall keep the other party's information confidential.",
        ],
        [
            "Liability",
            f"9.2 Limitation of Liability. The aggregate liability of either party shall not exceed {cap}.",
            "10. Termination. Either party may terminate this Agreement on ninety (90) days written notice.",
        ],
        page_four,
    ]


def long_specification(sections: int = 30, pages_per_section: int = 10) -> tuple[list[str], list[str]]:
    """A `sections × pages_per_section`-page specification: (page texts, the section of each page).
    The last section is about decommissioning; nothing else mentions it."""
    topics = [
        "foundations",
        "steel frame",
        "welding",
        "bolted connections",
        "coatings",
        "drainage",
        "electrical supply",
        "lighting",
        "ventilation",
        "fire protection",
    ]
    pages: list[str] = []
    names: list[str] = []
    for s in range(1, sections + 1):
        last = s == sections
        topic = "decommissioning and final handover" if last else topics[(s - 1) % len(topics)]
        name = f"Section {s}: {topic.capitalize()}"
        for p in range(1, pages_per_section + 1):
            if last:
                text = (
                    f"{name}. Before final handover the contractor shall drain the cooling loop, remove "
                    f"the temporary scaffolding and certify the site clean (item {p}). The decommissioning "
                    "record is countersigned by the owner's engineer within 14 days."
                )
            else:
                text = (
                    f"{name}. Requirement {s}.{p}: the {topic} shall be inspected at each stage and recorded "
                    f"in the quality log; the tolerance on position is ± {p / 10:.1f} mm to ISO 2768-m."
                )
            pages.append(text)
            names.append(name)
    return pages, names
