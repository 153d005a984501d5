"""Narrow typed shapes of exactly the FHIR elements the readers use (issue 16), decoded with msgspec.

A whole-resource validation with ``fhir.resources`` cost about 150 µs a record, most of a request, for
elements no rule reads. These Structs hold only what ``conditions``, ``observations``, ``medications``
and ``values`` read (and ``subject``: a record must be about someone), each with its FHIR type: a
wrong JSON type, a malformed date or two choices of one ``[x]`` element make that one record unreadable
(``decode`` returns None; the reader names it on the data card). Unknown elements are ignored, as the
fhir.resources path did after dropping them. ``fhir.resources`` stays the model library for the
draft resources the service writes, the profiles and the tests.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

# FHIR R4 dateTime (a date, year-month or year are dateTimes too); instants and times are not read.
_DATE_TIME = (
    r"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?)?)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)?)?)?$"
)
DateTime = Annotated[str, msgspec.Meta(pattern=_DATE_TIME)]
# A JSON number too large for a float arrives as infinity from the parser (service.jsonio): no
# measurement, so the record is unreadable, as for any malformed element. FHIR integers are 32-bit.
Decimal = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
Integer = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]


class Shape(msgspec.Struct, frozen=True, omit_defaults=True):
    """Base: immutable, every element optional (a missing element reads as absent)."""


class Coding(Shape, frozen=True):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(Shape, frozen=True):
    coding: list[Coding] | None = None
    text: str | None = None


class Reference(Shape, frozen=True):
    reference: str | None = None
    display: str | None = None


class Period(Shape, frozen=True):
    start: DateTime | None = None
    end: DateTime | None = None


class Quantity(Shape, frozen=True):
    value: Decimal | None = None
    comparator: str | None = None  # < | <= | >= | > | ad: the value is a bound, not the result
    unit: str | None = None
    code: str | None = None
    system: str | None = None


class Ratio(Shape, frozen=True):
    numerator: Quantity | None = None
    denominator: Quantity | None = None


class Range(Shape, frozen=True):
    """A FHIR Range, and the low/high of a referenceRange (with appliesTo: ``ReferenceRange``)."""

    low: Quantity | None = None
    high: Quantity | None = None


class ReferenceRange(Range, frozen=True):
    """An Observation's referenceRange: a Range and the population it is for (read for the sex it names)."""

    appliesTo: list[CodeableConcept] | None = None  # noqa: N815
    text: str | None = None  # the range in words, when a laboratory sends no low or high ("0.3 - 1.0 mg/dL")


class _Valued(Shape, frozen=True):
    """The value[x] choices the value reader decodes, and the reference range of a lab value."""

    valueQuantity: Quantity | None = None  # noqa: N815 - FHIR element names
    valueCodeableConcept: CodeableConcept | None = None  # noqa: N815
    valueString: str | None = None  # noqa: N815
    valueBoolean: bool | None = None  # noqa: N815
    valueInteger: Integer | None = None  # noqa: N815
    valueRatio: Ratio | None = None  # noqa: N815
    valueRange: Range | None = None  # noqa: N815
    referenceRange: list[ReferenceRange] | None = None  # noqa: N815
    # Read only as the answer of a receptor result with no value, as sent (an STU3 record's single
    # CodeableConcept or a malformed one must not make the whole record unreadable).
    interpretation: Any = None

    def __post_init__(self) -> None:
        _one_of(
            "value[x]",
            self.valueQuantity,
            self.valueCodeableConcept,
            self.valueString,
            self.valueBoolean,
            self.valueInteger,
            self.valueRatio,
            self.valueRange,
        )


class ObservationComponent(_Valued, frozen=True):
    code: CodeableConcept | None = None


class Observation(_Valued, frozen=True):
    id: str | None = None
    status: str | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    component: list[ObservationComponent] | None = None


class Stage(Shape, frozen=True):
    summary: CodeableConcept | None = None


class Condition(Shape, frozen=True):
    id: str | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    # STU3 and DSTU2 sent the statuses as a bare code ("active", "confirmed"): read as that one code.
    clinicalStatus: CodeableConcept | str | None = None  # noqa: N815
    verificationStatus: CodeableConcept | str | None = None  # noqa: N815
    bodySite: list[CodeableConcept] | None = None  # noqa: N815
    onsetDateTime: DateTime | None = None  # noqa: N815
    onsetPeriod: Period | None = None  # noqa: N815
    # Free text, as sent; read only when it is a month or a year ("11/2022", "2019", "March 2021"), as
    # records converted from another system give an onset (service/read/common.py date_in_words).
    onsetString: Any = None  # noqa: N815
    abatementDateTime: DateTime | None = None  # noqa: N815
    abatementPeriod: Period | None = None  # noqa: N815
    recordedDate: DateTime | None = None  # noqa: N815
    assertedDate: DateTime | None = None  # noqa: N815 - STU3's recordedDate
    dateRecorded: DateTime | None = None  # noqa: N815 - DSTU2's
    stage: list[Stage] | None = None
    # Annotations as sent (a malformed one must not make the whole record unreadable): read only for a
    # progression a dated note states (service/read/conditions.py).
    note: Any = None
    # Extensions as sent: read only for mCODE's related primary cancer of a metastasis.
    extension: Any = None

    def __post_init__(self) -> None:
        _one_of("onset[x]", self.onsetDateTime, self.onsetPeriod)


class _Medication(Shape, frozen=True):
    """Elements every medication record shares."""

    id: str | None = None
    status: str | None = None
    subject: Reference | None = None
    medicationCodeableConcept: CodeableConcept | None = None  # noqa: N815
    medicationReference: Reference | None = None  # noqa: N815
    reasonCode: list[CodeableConcept] | None = None  # noqa: N815
    reasonReference: list[Reference] | None = None  # noqa: N815

    def __post_init__(self) -> None:
        _one_of("medication[x]", self.medicationCodeableConcept, self.medicationReference)


class _Effective(_Medication, frozen=True):
    effectiveDateTime: DateTime | None = None  # noqa: N815
    effectivePeriod: Period | None = None  # noqa: N815
    statusReason: list[CodeableConcept] | None = None  # noqa: N815

    def __post_init__(self) -> None:
        super().__post_init__()
        _one_of("effective[x]", self.effectiveDateTime, self.effectivePeriod)


class Repeat(Shape, frozen=True):
    boundsPeriod: Period | None = None  # noqa: N815
    period: float | None = None  # the interval between doses, in periodUnit
    periodUnit: str | None = None  # noqa: N815


class Timing(Shape, frozen=True):
    event: list[DateTime] | None = None  # the days of the doses, when an order names them (a first cycle's day 1)
    repeat: Repeat | None = None


class Dosage(Shape, frozen=True):
    timing: Timing | None = None


class MedicationStatement(_Effective, frozen=True):
    dateAsserted: DateTime | None = None  # noqa: N815
    dosage: list[Dosage] | None = None


class MedicationAdministration(_Effective, frozen=True):
    pass


class DispenseRequest(Shape, frozen=True):
    validityPeriod: Period | None = None  # noqa: N815
    numberOfRepeatsAllowed: int | None = None  # noqa: N815
    expectedSupplyDuration: Quantity | None = None  # noqa: N815


class MedicationRequest(_Medication, frozen=True):
    authoredOn: DateTime | None = None  # noqa: N815
    statusReason: CodeableConcept | None = None  # noqa: N815
    dosageInstruction: list[Dosage] | None = None  # noqa: N815
    dispenseRequest: DispenseRequest | None = None  # noqa: N815


class MedicationDispense(_Medication, frozen=True):
    """A pharmacy's hand-over of a drug; R4 has no reasonCode here (the shared elements stay absent)."""

    whenHandedOver: DateTime | None = None  # noqa: N815
    whenPrepared: DateTime | None = None  # noqa: N815
    daysSupply: Quantity | None = None  # noqa: N815


SHAPES: dict[str, type[Shape]] = {
    "Observation": Observation,
    "Condition": Condition,
    "MedicationStatement": MedicationStatement,
    "MedicationRequest": MedicationRequest,
    "MedicationAdministration": MedicationAdministration,
    "MedicationDispense": MedicationDispense,
}


def _one_of(element: str, *choices: object) -> None:
    """FHIR allows one choice of an ``[x]`` element: two make the record unreadable.

    The values, not their names, are passed: it runs for every record decoded, and attribute reads
    by name (``getattr``) in a generator cost as much as the decoding itself.
    """
    if len(choices) - choices.count(None) > 1:
        raise ValueError(f"more than one {element}")


def decode(resource: Mapping[str, Any]) -> Shape | None:
    """The narrow shape of a raw record; None for a type no reader uses or an invalid element."""
    shape = SHAPES.get(str(resource.get("resourceType")))
    if shape is None:
        return None
    try:
        return msgspec.convert(resource, shape, strict=False)
    except (msgspec.ValidationError, TypeError, ValueError):
        return None


def decode_concept(value: Any) -> CodeableConcept | None:
    """A raw CodeableConcept (an extension's value) in its narrow shape; None when it is not one."""
    if not isinstance(value, Mapping):
        return None
    try:
        return msgspec.convert(value, CodeableConcept, strict=False)
    except (msgspec.ValidationError, TypeError, ValueError):
        return None
