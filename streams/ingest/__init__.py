"""Ingest over HTTP: telemetry (JSON lines or arrays, OTLP) and Alertmanager's alerts, turned
into the pipeline's own messages and written to Kafka with acks=all before the answer.

    writer.py        one acks=all producer, in-flight bound and acknowledgement deadline (429)
    batch.py         a request body as events: each line validated, rejections with index
    otlp.py          OTLP traces, metrics and logs as telemetry events
    alertmanager.py  Alertmanager's webhook (version 4) as decisions
"""
