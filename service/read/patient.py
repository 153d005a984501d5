"""The Patient resource: whether the record states a death, the patient's gender and birth date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.domain import PatientRecord
from service.read.common import reference_of, to_date


def read_patient(raw: Mapping[str, Any], patient_id: str, record: PatientRecord) -> None:
    """Set ``deceased`` from ``deceasedBoolean`` true or any ``deceasedDateTime`` of the patient in context,
    and ``gender`` from ``gender``.

    A Patient of another id (a linked record in a Bundle) is not this patient and is not read. A
    ``deceasedDateTime`` that is not a date still states a death: it is believed, and named as unreadable.
    ``born`` from ``birthDate``: a Condition's onset before it is no date (service/read/conditions.py).
    """
    if raw.get("id") not in (patient_id, None):
        return
    gender = raw.get("gender")
    if isinstance(gender, str):  # which of a lab's reference ranges is the patient's (record.py)
        record.gender = gender
    record.born = to_date(raw.get("birthDate"))
    flag = raw.get("deceasedBoolean")
    when = raw.get("deceasedDateTime")
    if flag is True:
        record.deceased = True
    elif flag is not None and not isinstance(flag, bool):
        record.skipped.append(reference_of(raw))
    if when is not None:
        record.deceased = True
        record.deceased_on = to_date(when)
        if record.deceased_on is None:
            record.skipped.append(f"{reference_of(raw)} (death date unreadable)")
