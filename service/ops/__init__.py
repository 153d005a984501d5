"""Operations: metrics (Prometheus), traces (OpenTelemetry), probes and the gunicorn configuration.

At the bottom of the import graph: nothing here imports a pipeline stage.
"""
