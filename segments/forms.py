"""What people type on the segment pages. The forms check the shape of the input; the services decide."""

from django import forms
from django.core.exceptions import ValidationError

from .choices import SegmentType
from .services import NAME_MAX_LENGTH, parse_customer_refs

# An uploaded list of 20,000 ids or source ids is well under 2 MB.
UPLOAD_MAX_BYTES = 2 * 1024 * 1024


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH, strip=True)
    junction = forms.ChoiceField(
        choices=[("and", "all of the conditions (and)"), ("or", "any of the conditions (or)")],
        initial="and",
        required=False,
        widget=forms.RadioSelect,
    )

    def clean_junction(self):
        return self.cleaned_data.get("junction") or "and"


class MembersForm(forms.Form):
    """Customer ids or source ids, pasted and/or uploaded (a text or CSV file, one per line or separated by
    commas): ``cleaned_data["refs"]`` is the list, in order, without repeats."""

    members = forms.CharField(
        label="Customer ids or source ids",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "cust_…, or your own customer ids; one per line"}),
    )
    members_file = forms.FileField(
        label="…or upload a file", required=False, help_text="Text or CSV, one id per line; at most 2 MB."
    )

    def __init__(self, *args, required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.required = required

    def clean_members_file(self):
        upload = self.cleaned_data.get("members_file")
        if not upload:
            return ""
        if upload.size > UPLOAD_MAX_BYTES:
            raise ValidationError("The file is larger than 2 MB.")
        raw = upload.read()
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("The file is not text (UTF-8): upload a .txt or .csv list of ids.") from None

    def clean(self):
        cleaned = super().clean()
        # each source on its own: a file may start with a header word
        refs = parse_customer_refs(cleaned.get("members") or "") + parse_customer_refs(
            cleaned.get("members_file") or ""
        )
        cleaned["refs"] = list(dict.fromkeys(refs))
        if self.required and not cleaned["refs"] and not self.errors:
            raise ValidationError("Paste or upload at least one customer id or source id.")
        return cleaned


def segment_type(value) -> str | None:
    return value if value in SegmentType.values else None
