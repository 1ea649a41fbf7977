-- Deploy history: every deploy event seen, per service, in event time.
-- The last version that ran healthy is the rollback target ("last known good").
CREATE TABLE deploys (
    id          bigserial   PRIMARY KEY,
    service     text        NOT NULL,
    version     text        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('started', 'succeeded', 'failed', 'rolled_back')),
    at          timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service, version, status, at)
);
CREATE INDEX deploys_service_at ON deploys (service, at DESC);
