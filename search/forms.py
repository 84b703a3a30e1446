"""Search filters as a form: one definition of the parameters for the browser and the API
(`?q=&collection=&document=&type=&folder=&from=&to=&versions=&method=&k=`)."""

from __future__ import annotations

from typing import Any

from django import forms

from docanalyst.validation import parse_id
from search.retrieval import FILE_TYPES, MAX_K, Method, SearchFilters

FILE_TYPE_LABELS = {
    "pdf": "PDF",
    "word": "Word / text documents",
    "spreadsheet": "Spreadsheets",
    "presentation": "Presentations",
    "email": "E-mails",
    "image": "Images (OCR)",
    "text": "Plain text / HTML / Markdown",
}


class IdListField(forms.Field):
    """Repeated integer parameters (`?document=3&document=7`) or one comma-separated value."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        values = value if isinstance(value, list | tuple) else [value] if value else []
        ids: list[int] = []
        for item in values:
            for part in str(item).split(","):
                part = part.strip()
                if not part:
                    continue
                number = parse_id(part)
                if number is None:
                    raise forms.ValidationError(f"{part[:40]!r} is not an id.")
                ids.append(number)
        return ids


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no, on/off); anything else is an error, not silently true."""

    TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")

    def to_python(self, value: Any) -> bool:
        text = str(value if value is not None else "").strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError(f"{str(value)[:40]!r} is not true or false.")


PARAMETERS = ("q", "collection", "document", "type", "folder", "from", "to", "versions", "method", "k")


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=2000, strip=True)
    collection = IdListField(required=False)
    document = IdListField(required=False)
    type = forms.MultipleChoiceField(
        required=False, choices=[(name, FILE_TYPE_LABELS.get(name, name)) for name in FILE_TYPES]
    )
    folder = forms.CharField(required=False, max_length=1000, strip=True)
    date_from = forms.DateField(required=False, label="Uploaded from")
    date_to = forms.DateField(required=False, label="Uploaded until")
    versions = StrictBooleanField(required=False, label="Include superseded versions")
    method = forms.ChoiceField(required=False, choices=[(m.value, m.value) for m in Method])
    k = forms.IntegerField(required=False, min_value=1, max_value=MAX_K)

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        if data is not None:
            # `from`/`to` are the public parameter names; Python cannot name fields `from`.
            data = data.copy() if hasattr(data, "copy") else dict(data)
            for public, field in (("from", "date_from"), ("to", "date_to")):
                if public in data and field not in data:
                    data[field] = data[public]
        super().__init__(data, *args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The upload date range ends before it starts.")
        return cleaned

    def filters(self) -> SearchFilters:
        data = self.cleaned_data
        return SearchFilters(
            collection_ids=data.get("collection") or (),
            document_ids=data.get("document") or (),
            file_types=data.get("type") or (),
            folder=data.get("folder") or "",
            uploaded_from=data.get("date_from"),
            uploaded_to=data.get("date_to"),
            include_old_versions=bool(data.get("versions")),
        )

    def search_method(self) -> Method:
        return Method(self.cleaned_data.get("method") or Method.HYBRID)

    def error_text(self) -> str:
        return "; ".join(f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in self.errors.items())
