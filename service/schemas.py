"""Marshmallow schemas for CDS Hooks JSON at the edge. Unknown fields are ignored, never an error."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

ORDER_HOOKS = frozenset({"order-select", "order-sign"})


class FhirAuthorizationSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    access_token = fields.String(required=True, validate=validate.Length(min=1))
    token_type = fields.String(load_default="Bearer")
    expires_in = fields.Integer(load_default=None, allow_none=True)
    scope = fields.String(load_default="")
    subject = fields.String(load_default="")


class HookRequestSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    hook = fields.String(required=True, validate=validate.Length(min=1))
    hookInstance = fields.String(required=True, validate=validate.Length(min=1, max=200))
    context = fields.Dict(required=True)
    fhirServer = fields.Url(require_tld=False, schemes={"http", "https"}, load_default=None, allow_none=True)
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema, load_default=None, allow_none=True)
    prefetch = fields.Dict(load_default=None, allow_none=True)

    @validates_schema
    def _patient_in_context(self, data: dict[str, Any], **_kwargs: Any) -> None:
        patient_id = data.get("context", {}).get("patientId")
        if not isinstance(patient_id, str) or not patient_id.strip():
            raise ValidationError("context.patientId is required (a non-empty string)", "context")

    @validates_schema
    def _draft_orders_of_order_hooks(self, data: dict[str, Any], **_kwargs: Any) -> None:
        """order-select / order-sign: ``context.draftOrders`` is a FHIR Bundle (CDS Hooks 2.0 hook definitions).

        Without it the service would check nothing and answer an empty 200: a silent all-clear for a broken integration.
        """
        if data.get("hook") not in ORDER_HOOKS:
            return
        bundle = data.get("context", {}).get("draftOrders")
        if not isinstance(bundle, dict):
            raise ValidationError(f"context.draftOrders is required for {data['hook']} (a FHIR Bundle)", "context")
        if bundle.get("resourceType") != "Bundle":
            raise ValidationError("context.draftOrders must be a FHIR Bundle (resourceType 'Bundle')", "context")
        if not isinstance(bundle.get("entry", []), list):
            raise ValidationError("context.draftOrders.entry must be an array", "context")


HOOK_SCHEMA = HookRequestSchema()
_HOOK_FIELDS = HOOK_SCHEMA.fields


def _length_bounds(name: str) -> tuple[int, float]:
    """The (min, max) length the schema's ``Length`` validator gives a string field, read from the schema."""
    lengths = [v for v in _HOOK_FIELDS[name].validators if isinstance(v, validate.Length)]
    low = max((v.min for v in lengths if v.min is not None), default=0)
    high = min((v.max for v in lengths if v.max is not None), default=float("inf"))
    return low, high


_HOOK_LENGTH = _length_bounds("hook")
_INSTANCE_LENGTH = _length_bounds("hookInstance")


_PATIENT_PREFIX = "Patient/"


def bare_patient_id(context: dict[str, Any]) -> dict[str, Any]:
    """``context`` with ``patientId`` as CDS Hooks defines it, the Patient's logical id: an EHR that sends
    "Patient/123" means 123 (its records name "Patient/123"; read as sent, none of them was the patient's)."""
    patient_id = context.get("patientId")
    if isinstance(patient_id, str) and patient_id.startswith(_PATIENT_PREFIX) and len(patient_id) > len(_PATIENT_PREFIX):
        return {**context, "patientId": patient_id[len(_PATIENT_PREFIX) :]}
    return context


def load_hook_request(body: Any) -> dict[str, Any]:
    """``HOOK_SCHEMA.load(body)``: the same dict, or the same ``ValidationError``.

    A request whose fields are plainly of their types is checked here field by field, with the
    schema's own fields and validators for anything beyond a type (the URL, the authorization, the
    patient and draft orders). Anything else, and every invalid request, goes through ``load``, which
    words the errors. The schema's walk had cost as much as reading a small patient's Conditions
    (issue 16); tests/test_schemas_fast.py checks the two agree on generated requests.
    """
    loaded = _plain_hook_request(body) if isinstance(body, dict) else None
    return loaded if loaded is not None else HOOK_SCHEMA.load(body)


def _plain_hook_request(body: dict[str, Any]) -> dict[str, Any] | None:
    """The loaded request, or None when only ``HOOK_SCHEMA.load`` can say (an odd type, an invalid value)."""
    hook, instance, context, prefetch = body.get("hook"), body.get("hookInstance"), body.get("context"), body.get("prefetch")
    if not (type(hook) is str and type(instance) is str and type(context) is dict):  # noqa: E721 - exactly the JSON types
        return None
    if not (_HOOK_LENGTH[0] <= len(hook) <= _HOOK_LENGTH[1] and _INSTANCE_LENGTH[0] <= len(instance) <= _INSTANCE_LENGTH[1]):
        return None
    if prefetch is not None and type(prefetch) is not dict:  # noqa: E721
        return None
    try:
        server = body.get("fhirServer")
        authorization = body.get("fhirAuthorization")
        data = {
            "hook": hook,
            "hookInstance": instance,
            "context": dict(context),
            "fhirServer": None if server is None else _HOOK_FIELDS["fhirServer"].deserialize(server),
            "fhirAuthorization": None if authorization is None else _HOOK_FIELDS["fhirAuthorization"].deserialize(authorization),
            "prefetch": None if prefetch is None else dict(prefetch),
        }
        HOOK_SCHEMA._patient_in_context(data)  # noqa: SLF001 - the schema's own validators, called as load calls them
        HOOK_SCHEMA._draft_orders_of_order_hooks(data)  # noqa: SLF001
    except ValidationError:
        return None
    return data


# -- feedback (CDS Hooks 2.0 "Feedback"): every field to its type and a size, nothing else kept ----------


def _iso_instant(value: str) -> None:
    """outcomeTimestamp is an ISO 8601 instant (``2026-06-01T10:00:00Z``)."""
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError("must be an ISO 8601 date-time, e.g. 2026-06-01T10:00:00Z") from exc
    if "T" not in value.upper():
        raise ValidationError("must be an ISO 8601 date-time with a time, e.g. 2026-06-01T10:00:00Z")


class SuggestionRefSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=100))


class CodingSchema(Schema):
    """A FHIR Coding as CDS Hooks uses it for ``overrideReason.reason``: system, code, display."""

    class Meta:
        unknown = EXCLUDE

    system = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    code = fields.String(required=True, validate=validate.Length(min=1, max=100))
    display = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class OverrideReasonSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = fields.Nested(CodingSchema, load_default=None, allow_none=True)
    userComment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class FeedbackItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    card = fields.String(required=True, validate=validate.Length(min=1, max=100))
    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "overridden"]))
    acceptedSuggestions = fields.List(fields.Nested(SuggestionRefSchema), load_default=list, validate=validate.Length(max=20))
    overrideReason = fields.Nested(OverrideReasonSchema, load_default=None, allow_none=True)
    outcomeTimestamp = fields.String(required=True, validate=[validate.Length(min=10, max=40), _iso_instant])


class FeedbackSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    feedback = fields.List(fields.Nested(FeedbackItemSchema), required=True, validate=validate.Length(min=1, max=100))


def messages_of(error: ValidationError) -> list[str]:
    """Flatten marshmallow's nested messages to 'field: message' lines."""
    lines: list[str] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list):
            for item in node:
                walk(prefix, item)
        else:
            lines.append(f"{prefix}: {node}" if prefix else str(node))

    walk("", error.messages)
    return lines
