-- The latest error budget stage 2 reported per SLO and scope (GET /slos).
CREATE TABLE slo_budgets (
    slo              text        NOT NULL,
    scope_id         text        NOT NULL,
    service          text        NOT NULL,
    scope            jsonb       NOT NULL,
    objective        double precision NOT NULL,
    period_s         double precision NOT NULL,
    at               timestamptz NOT NULL,
    since            timestamptz NOT NULL,
    requests         bigint      NOT NULL,
    errors           bigint      NOT NULL,
    budget_remaining double precision,
    burn_rates       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (slo, scope_id)
);
CREATE INDEX slo_budgets_service ON slo_budgets (service);
