"""Rule-based field extraction (no LLM configured): every value comes with its verbatim sentence, chunk and
page, absent fields are None, and near-misses do not fire. Plain functions over text, no database."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from compliance.extraction.finders import find_field, has_rule
from compliance.extraction.found import Found
from compliance.extraction.templates import BUILTIN_TEMPLATES, validate_template_schema
from search.citations import Passage

CONTRACT = [
    Passage(
        chunk_id=101,
        page=1,
        text=(
            "MASTER SUPPLY AGREEMENT\n\n"
            'This Master Supply Agreement (the "Agreement") is made and entered into on 14 February 2024 by and '
            "between Acme Widgets Ltd, a company incorporated in England and Wales with company number 01234567, "
            'whose registered office is at 1 Mill Lane, Leeds LS1 4AB ("Acme"), and Borealis Engineering GmbH, '
            'a German limited liability company ("Borealis").\n\n'
            "1. Commencement\n"
            'This Agreement is effective as of 1 March 2024 (the "Effective Date") and the parties shall meet '
            "within thirty days to agree a delivery schedule.\n"
            "Questions about this Agreement may be sent to +44 113 496 0000 or 0113 496 0999."
        ),
    ),
    Passage(
        chunk_id=102,
        page=2,
        text=(
            "2. Term and Termination\n"
            "2.1 This Agreement commences on the Effective Date and continues for a term of three (3) years, "
            "unless terminated earlier in accordance with this clause.\n"
            "2.2 Upon termination, each party shall return the other's materials.\n"
            "2.3 Either party may terminate this Agreement by giving not less than ninety (90) days' prior "
            "written notice to the other party.\n\n"
            "3. Limitation of Liability\n"
            "3.1 The aggregate liability of either party under or in connection with this Agreement shall not "
            "exceed USD 5,000,000 in any contract year.\n"
            "3.2 Nothing in this Agreement limits liability for fraud, which is unlimited.\n\n"
            "4. Confidentiality\n"
            "Each party shall keep the other party's Confidential Information secret and shall not disclose it "
            "to any third party without prior written consent."
        ),
    ),
    Passage(
        chunk_id=103,
        page=3,
        text=(
            "5. Assignment\n"
            "Neither party may assign or transfer this Agreement without the prior written consent of the other "
            "party, such consent not to be unreasonably withheld.\n\n"
            "6. Governing Law\n"
            "This Agreement and any dispute arising out of it shall be governed by and construed in accordance "
            "with the laws of England and Wales.\n\n"
            "Signed for and on behalf of Acme Widgets Ltd and Borealis Engineering GmbH."
        ),
    ),
]

DRAWING = [
    Passage(
        chunk_id=7,
        page=1,
        text=(
            "TITLE: PUMP SHAFT\n"
            "Drawing No.: TC-4410-B\n"
            "Rev. C\n"
            "Date: 12 February 2024\n"
            "Drawn: J. Smith   Checked: reviewed by A. Jones on 2 February 2024\n"
            "NOTES:\n"
            "1. Material: AISI 316L stainless steel to ASTM A276, certified to EN 10204 3.1.\n"
            "2. General tolerances ISO 2768-m unless otherwise stated.\n"
            "3. Bearing seats ± 0.05 mm, keyway +/- 0.1, thread relief ±0.02mm.\n"
            "4. Dimensioning and tolerancing per ASME Y14.5; fits per ISO 286-2.\n"
            "5. Welding by welders qualified to BS EN ISO 9606-1; quality system ISO 9001."
        ),
    ),
    Passage(
        chunk_id=8,
        page=2,
        text="Hole positions shall have a tolerance of 0.1 mm. Electrical equipment to IEC 60204-1.",
    ),
]


def value(name: str, passages: list[Passage]) -> Any:
    found = find_field(name, passages)
    assert found is not None, f"{name} was not found"
    return found.value


# --- contracts ----------------------------------------------------------------------------------------------------


def test_the_parties_are_the_full_legal_names_without_defined_terms_or_descriptions() -> None:
    found = find_field("parties", CONTRACT)

    assert found == Found(
        value=["Acme Widgets Ltd", "Borealis Engineering GmbH"],
        quote=found.quote if found else "",
        chunk_id=101,
        page=1,
    )
    assert found is not None and found.quote.startswith('This Master Supply Agreement (the "Agreement") is made')
    assert found.quote.endswith('a German limited liability company ("Borealis").')


@pytest.mark.parametrize(
    ("sentence", "parties"),
    [
        (
            'This Agreement is entered into between Acme Widgets, Inc., a Delaware corporation ("Acme") and '
            'Borealis Engineering GmbH ("Borealis").',
            ["Acme Widgets, Inc.", "Borealis Engineering GmbH"],
        ),
        (
            "This Agreement is made on 1 March 2024 between Northwind Traders Limited and Jane Doe.",
            ["Northwind Traders Limited", "Jane Doe"],
        ),
        (
            'This Agreement is made by and between (1) ACME WIDGETS LTD (the "Supplier") and (2) BOREALIS '
            'ENGINEERING GMBH (hereinafter referred to as the "Customer").',
            ["ACME WIDGETS LTD", "BOREALIS ENGINEERING GMBH"],
        ),
    ],
)
def test_the_parties_are_read_from_the_usual_between_formulas(sentence: str, parties: list[str]) -> None:
    assert value("parties", [Passage(1, 1, sentence)]) == parties


def test_parties_listed_on_enumerated_lines_after_made_between_are_quoted_with_the_lead_in() -> None:
    text = (
        "THIS AGREEMENT is dated 1 March 2024\nand is made between:\n"
        '(1) ACME LIMITED, a company registered in England (company number 123) (the "Supplier"); and\n'
        '(2) BETA LLC (the "Customer").'
    )

    found = find_field("parties", [Passage(3, 1, text)])

    assert found is not None and found.value == ["ACME LIMITED", "BETA LLC"]
    assert found.quote == " ".join(text.split())


def test_the_parties_are_read_from_labelled_lines_quoted_together() -> None:
    passages = [
        Passage(5, 1, "PURCHASE ORDER TERMS\nSupplier: Acme Widgets Ltd\nCustomer: Borealis Engineering GmbH\n")
    ]

    found = find_field("parties", passages)

    assert found == Found(
        value=["Acme Widgets Ltd", "Borealis Engineering GmbH"],
        quote="Supplier: Acme Widgets Ltd Customer: Borealis Engineering GmbH",
        chunk_id=5,
        page=1,
    )


def test_the_effective_date_is_normalised_to_iso_and_quoted_from_page_one() -> None:
    found = find_field("effective_date", CONTRACT)

    assert found is not None
    assert (found.value, found.chunk_id, found.page) == ("2024-03-01", 101, 1)
    assert found.quote.startswith('This Agreement is effective as of 1 March 2024 (the "Effective Date")')


@pytest.mark.parametrize(
    ("sentence", "date"),
    [
        ("Effective Date: March 1, 2024", "2024-03-01"),
        ("This Agreement shall be effective from 1st March 2024.", "2024-03-01"),
        ("The changes are effective 2024-03-01.", "2024-03-01"),
        ('This Agreement is dated as of 5 May 2023 (the "Effective Date").', "2023-05-05"),
        ("Effective Date: 01/03/2024", "01/03/2024"),  # 1 March or 3 January: left as written
        ("Effective Date: 25/03/2024", "2024-03-25"),  # only one reading is a real date
    ],
)
def test_an_effective_date_is_read_in_the_common_formats(sentence: str, date: str) -> None:
    assert value("effective_date", [Passage(1, 1, sentence)]) == date


def test_without_a_dated_effective_clause_the_agreement_takes_effect_on_the_date_it_is_made() -> None:
    passages = [
        Passage(1, 1, "This Agreement is made on 1 March 2024 between Acme Widgets Ltd and Borealis GmbH."),
        Passage(2, 2, "3. Term. This Agreement has a term of three (3) years from the Effective Date."),
    ]

    found = find_field("effective_date", passages)

    assert found is not None and (found.value, found.page) == ("2024-03-01", 1)
    assert find_field("effective_date", passages[1:]) is None  # an undated "Effective Date" is not a date


def test_an_end_date_after_effective_is_not_taken_for_the_effective_date() -> None:
    passages = [Passage(1, 3, "This Agreement shall remain effective until 31 December 2027.")]

    assert find_field("effective_date", passages) is None


def test_the_term_is_the_duration_phrase() -> None:
    found = find_field("term", CONTRACT)

    assert found is not None
    assert (found.value, found.chunk_id, found.page) == ("three (3) years", 102, 2)
    assert found.quote.startswith("2.1 This Agreement commences on the Effective Date and continues for a term")
    assert value("term", [Passage(1, None, "The initial term is for a period of 24 months.")]) == "24 months"


def test_termination_is_the_first_sentence_that_says_who_may_terminate_or_on_what_notice() -> None:
    found = find_field("termination", CONTRACT)

    assert found is not None
    assert (
        found.value
        == found.quote
        == (
            "2.3 Either party may terminate this Agreement by giving not less than ninety (90) days' prior written "
            "notice to the other party."
        )
    )
    assert (found.chunk_id, found.page) == (102, 2)


def test_the_liability_cap_is_the_amount_as_written() -> None:
    found = find_field("liability_cap", CONTRACT)

    assert found is not None
    assert (found.value, found.chunk_id, found.page) == ("USD 5,000,000", 102, 2)
    assert found.quote.startswith("3.1 The aggregate liability of either party")


@pytest.mark.parametrize(
    ("sentence", "cap"),
    [
        ("The Supplier's total liability shall not exceed $5,000,000 in aggregate.", "$5,000,000"),
        ("Liability is limited to EUR 2 million per claim.", "EUR 2 million"),
        ("The Supplier's liability is capped at €2,000,000.", "€2,000,000"),
        ("In no event shall liability exceed 5,000,000 US dollars.", "5,000,000 US dollars"),
        ("The Supplier's liability under this Agreement shall be unlimited.", "unlimited"),
    ],
)
def test_a_liability_cap_is_read_in_the_common_forms(sentence: str, cap: str) -> None:
    assert value("liability_cap", [Passage(1, 1, sentence)]) == cap


def test_confidentiality_assignment_and_governing_law_are_found_on_their_pages() -> None:
    confidentiality = find_field("confidentiality", CONTRACT)
    assignment = find_field("assignment", CONTRACT)
    governing_law = find_field("governing_law", CONTRACT)

    assert confidentiality is not None and (confidentiality.chunk_id, confidentiality.page) == (102, 2)
    assert confidentiality.value == confidentiality.quote
    assert confidentiality.quote.startswith("Each party shall keep the other party's Confidential Information")
    assert assignment is not None and (assignment.chunk_id, assignment.page) == (103, 3)
    assert assignment.value == assignment.quote
    assert assignment.quote.startswith("Neither party may assign or transfer this Agreement")
    assert governing_law is not None and (governing_law.chunk_id, governing_law.page) == (103, 3)
    assert governing_law.value == "England and Wales"
    assert governing_law.quote == (
        "This Agreement and any dispute arising out of it shall be governed by and construed in accordance with "
        "the laws of England and Wales."
    )


@pytest.mark.parametrize(
    ("sentence", "law"),
    [
        ("This Agreement is governed by the laws of the State of New York, without regard to conflicts.", "New York"),
        ("Governing law: Switzerland", "Switzerland"),
        ("This Agreement shall be governed by English law.", "English law"),
    ],
)
def test_the_governing_law_is_the_jurisdiction(sentence: str, law: str) -> None:
    assert value("governing_law", [Passage(1, 1, sentence)]) == law


def test_fields_the_contract_lacks_are_none() -> None:
    # The sample contract has no renewal clause; this one has no governing law either.
    no_law = [Passage(p.chunk_id, p.page, p.text.split("6. Governing Law")[0]) for p in CONTRACT]

    assert find_field("renewal", CONTRACT) is None
    assert find_field("governing_law", no_law) is None
    assert find_field("renewal", no_law) is None
    assert find_field("document_number", CONTRACT) is None
    assert find_field("materials", CONTRACT) is None


def test_renewal_is_the_sentence_about_renewing() -> None:
    text = "The Initial Term renews automatically for successive one (1) year periods unless either party objects."

    found = find_field("renewal", [Passage(9, 4, "12. Renewal\n" + text)])

    assert found == Found(value=text, quote=text, chunk_id=9, page=4)


def test_the_first_match_in_reading_order_wins() -> None:
    passages = [
        Passage(1, 1, "This Agreement is governed by the laws of Ireland."),
        Passage(2, 2, "This Agreement is governed by the laws of Scotland."),
    ]

    found = find_field("governing_law", passages)

    assert found is not None and (found.value, found.chunk_id) == ("Ireland", 1)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("parties", "The parties shall meet once a quarter to review progress."),
        ("parties", "Any dispute between the parties shall be referred to the steering committee."),
        ("effective_date", "Effective communication is essential; call +44 20 7946 0958 or 555-123-4567."),
        ("effective_date", "The measure is effective immediately."),
        ("effective_date", "Effective Date: 2024-13-45"),
        ("date", "Date: call 0113 496 0999 to arrange a visit."),
        ("date", "The document was updated 14 times in 2023."),
        ("revision", "The drawing was reviewed and revised by the checker."),
        ("revision", "REVISION HISTORY"),
        ("term", "The terms and conditions apply for 12 months."),
        ("term", "Samples are kept in long-term storage for 5 years."),
        ("termination", "Upon termination, the Supplier shall return all documents."),
        ("liability_cap", "The Supplier shall maintain liability insurance with a limit of USD 10,000,000."),
        ("liability_cap", "The Supplier's liability shall not exceed the fees paid in the 12 months before the claim."),
        ("governing_law", "Each party shall comply with the laws of physics and of all applicable jurisdictions."),
        ("confidentiality", "8. Confidentiality"),
        ("assignment", "The meaning assigned to it in Schedule 1 applies to the engineers assigned to the project."),
        ("document_number", "The document number is printed on every sheet."),
        ("tolerances", "Please call +44 20 7946 0958 about the delivery."),
        ("referenced_standards", "The supplier is ISO-certified and uses EN AW-6061 bar stock."),
        ("materials", "Material-specific requirements are set out in the purchase order."),
    ],
)
def test_a_finder_does_not_fire_on_a_near_miss(name: str, text: str) -> None:
    assert find_field(name, [Passage(1, 1, text)]) is None


# --- drawings and specifications ------------------------------------------------------------------------------------


def test_the_drawing_fields_are_read_with_their_quotes() -> None:
    found = {name: find_field(name, DRAWING) for name in BUILTIN_TEMPLATES["engineering"]["properties"]}

    assert {name: f.value if f else None for name, f in found.items()} == {
        "document_number": "TC-4410-B",
        "revision": "C",
        "date": "2024-02-12",
        "materials": ["AISI 316L stainless steel"],
        "tolerances": ["ISO 2768-m", "± 0.05 mm", "+/- 0.1", "±0.02mm"],
        "referenced_standards": [
            "ASTM A276",
            "EN 10204 3.1",
            "ISO 2768-m",
            "ASME Y14.5",
            "ISO 286-2",
            "BS EN ISO 9606-1",
            "ISO 9001",
        ],
    }
    assert all(f is not None and (f.chunk_id, f.page) == (7, 1) for f in found.values())
    assert found["document_number"] is not None and found["document_number"].quote == "Drawing No.: TC-4410-B"
    assert found["revision"] is not None and found["revision"].quote == "Rev. C"
    assert found["date"] is not None and found["date"].quote == "Date: 12 February 2024"


def test_every_list_item_appears_verbatim_in_its_quote() -> None:
    for name in ("materials", "tolerances", "referenced_standards"):
        found = find_field(name, DRAWING)
        assert found is not None and isinstance(found.value, list)
        assert all(item in found.quote for item in found.value), name
        assert len(found.quote) <= 400


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("document_number", "Document number: SPEC-0042", "SPEC-0042"),
        ("document_number", "Doc. No. 123-456", "123-456"),
        ("revision", "Revision: 03", "03"),
        ("revision", "TITLE BLOCK  REV B  SHEET 1 OF 2", "B"),
        ("date", "Issued 2024-02-12 for tender.", "2024-02-12"),
        ("date", "This specification is dated March 3, 2023.", "2023-03-03"),
        ("date", "Date: 01/03/2024", "01/03/2024"),
        ("materials", "Materials: 6061-T6 aluminium; PTFE and EPDM", ["6061-T6 aluminium", "PTFE", "EPDM"]),
        ("tolerances", "Hole positions shall have a tolerance of 0.1 mm.", ["tolerance of 0.1 mm"]),
        ("tolerances", "Bores +0.1/-0.05 mm.", ["+0.1/-0.05 mm"]),
        (
            "referenced_standards",
            "Per DIN 7168 and IEC 60204-1, see ISO  9001.",
            ["DIN 7168", "IEC 60204-1", "ISO 9001"],
        ),
    ],
)
def test_engineering_fields_are_read_in_their_common_forms(name: str, text: str, expected: object) -> None:
    assert value(name, [Passage(1, 1, text)]) == expected


def test_list_items_come_from_the_first_passage_that_has_any() -> None:
    found = find_field("referenced_standards", list(reversed(DRAWING)))

    assert found is not None and (found.value, found.chunk_id, found.page) == (["IEC 60204-1"], 8, 2)


@pytest.mark.parametrize("passages", [CONTRACT, DRAWING])
def test_every_quote_is_verbatim_from_the_passage_it_names(passages: list[Passage]) -> None:
    texts = {p.chunk_id: " ".join(p.text.split()) for p in passages}
    pages = {p.chunk_id: p.page for p in passages}
    names = [name for template in BUILTIN_TEMPLATES.values() for name in template["properties"]]

    for found in filter(None, (find_field(name, passages) for name in names)):
        assert found.quote.removesuffix("…") in texts[found.chunk_id]
        assert found.page == pages[found.chunk_id]


def test_a_long_sentence_is_quoted_in_at_most_400_characters() -> None:
    sentence = "Either party may terminate this Agreement on thirty days' notice " + "and for any reason " * 30 + "."

    found = find_field("termination", [Passage(1, 1, sentence)])

    assert found is not None and len(found.quote) == 400 and found.quote.endswith("…")


def test_only_the_built_in_fields_have_rules() -> None:
    names = {name for template in BUILTIN_TEMPLATES.values() for name in template["properties"]}

    assert all(has_rule(name) for name in names)
    assert not has_rule("purchase_price")
    assert find_field("purchase_price", CONTRACT) is None


# --- templates ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["contract", "engineering"])
def test_the_built_in_templates_are_valid_flat_json_schemas(name: str) -> None:
    schema = BUILTIN_TEMPLATES[name]

    jsonschema.Draft202012Validator.check_schema(schema)
    assert validate_template_schema(schema) == []
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["title"] and schema["description"]
    assert all(len(spec["description"]) > 30 for spec in schema["properties"].values())


def test_the_built_in_templates_have_the_documented_fields() -> None:
    contract = BUILTIN_TEMPLATES["contract"]["properties"]
    engineering = BUILTIN_TEMPLATES["engineering"]["properties"]

    assert list(contract) == [
        "parties",
        "effective_date",
        "term",
        "renewal",
        "termination",
        "governing_law",
        "liability_cap",
        "confidentiality",
        "assignment",
    ]
    assert list(engineering) == [
        "document_number",
        "revision",
        "date",
        "materials",
        "tolerances",
        "referenced_standards",
    ]
    assert contract["parties"]["type"] == "array" and contract["effective_date"]["format"] == "date"
    assert engineering["date"]["format"] == "date"
    assert all(
        engineering[n]["items"] == {"type": "string"} for n in ("materials", "tolerances", "referenced_standards")
    )


@pytest.mark.parametrize(("name", "passages"), [("contract", CONTRACT), ("engineering", DRAWING)])
def test_the_found_values_validate_against_their_template(name: str, passages: list[Passage]) -> None:
    schema = BUILTIN_TEMPLATES[name]
    found = {field: find_field(field, passages) for field in schema["properties"]}
    document = {field: f.value for field, f in found.items() if f is not None}

    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    assert len(document) == len(schema["properties"]) - (1 if name == "contract" else 0)  # the contract has no renewal


def test_a_simple_user_template_is_accepted() -> None:
    schema = {
        "type": "object",
        "title": "Invoice",
        "properties": {
            "invoice_number": {"type": "string", "description": "The invoice number"},
            "issued_on": {"type": "string", "format": "date"},
            "total": {"type": "number"},
            "line_count": {"type": "integer"},
            "paid": {"type": "boolean"},
            "references": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["invoice_number"],
    }

    assert validate_template_schema(schema) == []


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (["parties"], "must be a JSON object"),
        ({"type": "array", "items": {"type": "string"}}, 'must have "type": "object"'),
        ({"type": "object", "properties": {}}, "at least one field"),
        (
            {
                "type": "object",
                "properties": {"address": {"type": "object", "properties": {"city": {"type": "string"}}}},
            },
            'Field "address": nested objects are not supported',
        ),
        (
            {"type": "object", "properties": {"lines": {"type": "array", "items": {"type": "object"}}}},
            'Field "lines": lists of objects are not supported',
        ),
        ({"type": "object", "properties": {"Due Date": {"type": "string"}}}, 'Field "Due Date": a field name must'),
        ({"type": "object", "properties": {"due": {"type": "date"}}}, 'Field "due": the type must be one of'),
        ({"type": "object", "properties": {"due": {"description": "x"}}}, 'Field "due": the field has no "type"'),
        (
            {"type": "object", "properties": {"due": {"type": "string", "format": "email"}}},
            'Field "due": the only supported format is "date"',
        ),
        (
            {"type": "object", "properties": {"due": {"type": "string", "description": "x" * 501}}},
            'Field "due": the description is 501 characters long',
        ),
        (
            {"type": "object", "properties": {"party": {"$ref": "#/$defs/party"}}, "$defs": {"party": {}}},
            "References ($ref) are not supported",
        ),
        ({"type": "object", "properties": {"due": {"type": 5}}}, "not a valid JSON schema"),
        (
            {"type": "object", "properties": {f"field_{i}": {"type": "string"} for i in range(41)}},
            "The template has 41 fields; at most 40 are allowed.",
        ),
        ({"type": "object", "properties": {"due": {"type": "string"}}, "required": ["paid"]}, '"paid"'),
    ],
)
def test_an_unusable_user_template_gets_a_readable_reason(schema: object, message: str) -> None:
    errors = validate_template_schema(schema)

    assert any(message in error for error in errors), errors
