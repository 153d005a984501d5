"""Inference stage: pure functions from a ``PatientRecord`` to the clinical conclusions."""
