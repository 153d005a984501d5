"""The read stage: FHIR resources -> small typed domain objects (service/domain.py).

One module per resource type (patient, conditions, observations, medications), the value decoders
(values), the shared raw-JSON helpers and dates (common), and the value sets of
mappings/terminology.yaml (terminology). ``Normaliser`` (record.py) is the entry point.
"""

from service.read.common import to_date, validate_resource
from service.read.record import Normaliser

__all__ = ["Normaliser", "to_date", "validate_resource"]
