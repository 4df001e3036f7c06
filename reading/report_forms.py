"""The report form: the structured fields of each clinical area, the findings text and the
impression. Report.structured keeps the cleaned structured fields as JSON (numbers, not Decimals)."""

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from reading.models import Report
from worklist.models import ClinicalArea

YES_NO = [("", "—"), ("no", _("No")), ("yes", _("Yes"))]
SIDES = [("", "—"), ("left", _("Left")), ("right", _("Right")), ("bilateral", _("Both sides"))]


class ReportTextForm(forms.Form):
    """Every area's free text, and the version the form was loaded at (a stale save is refused)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    findings_text = forms.CharField(
        label=_("Findings"), required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 5})
    )
    impression = forms.CharField(
        label=_("Impression"), required=False, max_length=5_000, widget=forms.Textarea(attrs={"rows": 3})
    )


class NoduleForm(forms.Form):
    LOBES = [
        ("RUL", _("Right upper lobe")),
        ("RML", _("Right middle lobe")),
        ("RLL", _("Right lower lobe")),
        ("LUL", _("Left upper lobe")),
        ("LLL", _("Left lower lobe")),
    ]
    TYPES = [("solid", _("Solid")), ("part_solid", _("Part-solid")), ("ground_glass", _("Ground-glass"))]

    location = forms.ChoiceField(label=_("Location"), choices=LOBES)
    size_mm = forms.DecimalField(label=_("Size (mm)"), min_value=Decimal("0.1"), max_value=200, decimal_places=1)
    nodule_type = forms.ChoiceField(label=_("Type"), choices=TYPES)


NoduleFormSet = forms.formset_factory(NoduleForm, extra=1, can_delete=True, max_num=30, validate_max=True)


class LungForm(forms.Form):
    LUNG_RADS = [
        ("", "—"),
        ("0", "0"),
        ("1", "1"),
        ("2", "2"),
        ("3", "3"),
        ("4A", "4A"),
        ("4B", "4B"),
        ("4X", "4X"),
    ]
    lung_rads = forms.ChoiceField(label=_("Lung-RADS category"), choices=LUNG_RADS, required=False)


class BreastForm(forms.Form):
    BI_RADS = [("", "—")] + [(str(category), str(category)) for category in range(7)]
    DENSITY = [("", "—"), ("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]
    FINDINGS = [
        ("mass", _("Mass")),
        ("calcification", _("Calcifications")),
        ("architectural_distortion", _("Architectural distortion")),
        ("asymmetry", _("Asymmetry")),
    ]
    bi_rads = forms.ChoiceField(label=_("BI-RADS category"), choices=BI_RADS, required=False)
    laterality = forms.ChoiceField(label=_("Laterality"), choices=SIDES, required=False)
    density = forms.ChoiceField(label=_("Breast density"), choices=DENSITY, required=False)
    findings = forms.MultipleChoiceField(
        label=_("Findings"), choices=FINDINGS, required=False, widget=forms.CheckboxSelectMultiple
    )


class StrokeForm(forms.Form):
    TERRITORIES = [
        ("", "—"),
        ("aca", _("Anterior cerebral artery (ACA)")),
        ("mca", _("Middle cerebral artery (MCA)")),
        ("pca", _("Posterior cerebral artery (PCA)")),
        ("vertebrobasilar", _("Vertebrobasilar")),
        ("lacunar", _("Lacunar (small vessel)")),
        ("watershed", _("Watershed")),
    ]
    haemorrhage = forms.ChoiceField(label=_("Haemorrhage"), choices=YES_NO, required=False)
    infarct = forms.ChoiceField(label=_("Infarct"), choices=YES_NO, required=False)
    territory = forms.ChoiceField(label=_("Vascular territory"), choices=TERRITORIES, required=False)
    side = forms.ChoiceField(label=_("Side"), choices=SIDES, required=False)
    aspects = forms.IntegerField(label=_("ASPECTS"), min_value=0, max_value=10, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("territory") and data.get("infarct") != "yes":
            self.add_error("territory", _("A territory is given for an infarct."))
        return data


class DementiaForm(forms.Form):
    MTA = [("", "—")] + [(str(score), str(score)) for score in range(5)]
    GCA = [("", "—")] + [(str(score), str(score)) for score in range(4)]
    mta_left = forms.ChoiceField(label=_("Medial temporal atrophy, left (MTA 0-4)"), choices=MTA, required=False)
    mta_right = forms.ChoiceField(label=_("Medial temporal atrophy, right (MTA 0-4)"), choices=MTA, required=False)
    global_cortical_atrophy = forms.ChoiceField(
        label=_("Global cortical atrophy (GCA 0-3)"), choices=GCA, required=False
    )
    fazekas = forms.ChoiceField(label=_("White matter hyperintensities (Fazekas 0-3)"), choices=GCA, required=False)


class NoStructuredFields(forms.Form):
    pass


AREA_FORMS: dict[str, type[forms.Form]] = {
    ClinicalArea.LUNG: LungForm,
    ClinicalArea.BREAST: BreastForm,
    ClinicalArea.STROKE: StrokeForm,
    ClinicalArea.DEMENTIA: DementiaForm,
}


class ReportForm:
    """The three parts of one report form, bound together: the text, the area's fields and (lung)
    the nodule list. Built from a POST, or from a report to show it."""

    def __init__(self, report: Report, data: Any = None):
        self.area = report.clinical_area
        structured = report.structured or {}
        self.text = ReportTextForm(
            data,
            initial={"version": report.version, "findings_text": report.findings_text, "impression": report.impression},
        )
        self.structured = AREA_FORMS.get(self.area, NoStructuredFields)(data, initial=structured, prefix="s")
        self.nodules = (
            NoduleFormSet(data, initial=structured.get("nodules") or None, prefix="nodule")
            if self.area == ClinicalArea.LUNG
            else None
        )

    def is_valid(self) -> bool:
        parts = [self.text.is_valid(), self.structured.is_valid()]
        if self.nodules is not None:
            parts.append(self.nodules.is_valid())
        return all(parts)

    def cleaned_structured(self) -> dict[str, Any]:
        """The structured fields as JSON-safe values (call after is_valid)."""
        data = {key: _json_value(value) for key, value in self.structured.cleaned_data.items()}
        if self.nodules is not None:
            data["nodules"] = [
                {key: _json_value(value) for key, value in form.cleaned_data.items() if key != "DELETE"}
                for form in self.nodules.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE")
            ]
        return data

    @property
    def version(self) -> int:
        return self.text.cleaned_data["version"]


def structured_display(report: Report) -> list[tuple[str, str]]:
    """(label, value) pairs of the filled structured fields, choices shown by their names."""
    form = AREA_FORMS.get(report.clinical_area, NoStructuredFields)()
    structured = report.structured or {}
    rows = []
    for name, field in form.fields.items():
        value = structured.get(name)
        if value in (None, "", []):
            continue
        choices = dict(getattr(field, "choices", []))
        values = value if isinstance(value, list) else [value]
        rows.append((str(field.label), ", ".join(str(choices.get(str(item), item)) for item in values)))
    return rows


def nodule_display(report: Report) -> list[dict[str, str]]:
    lobes, types = dict(NoduleForm.LOBES), dict(NoduleForm.TYPES)
    return [
        {
            "location": str(lobes.get(nodule.get("location"), nodule.get("location", ""))),
            "size_mm": f"{nodule.get('size_mm', '')}",
            "nodule_type": str(types.get(nodule.get("nodule_type"), nodule.get("nodule_type", ""))),
        }
        for nodule in (report.structured or {}).get("nodules", [])
    ]


def _json_value(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value
