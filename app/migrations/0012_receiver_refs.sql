-- What a receiver keeps about an incident between calls: the id an outside service gave it
-- (Statuspage's incident id, so that updates PATCH that incident instead of creating more).
-- Numbered 0015 to stay clear of the files other branches add.

CREATE TABLE receiver_refs (
    incident_id  text        NOT NULL REFERENCES incidents (id),
    receiver     text        NOT NULL,             -- the action kind: status_page
    ref          text        NOT NULL,             -- the outside service's id of the incident
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, receiver)
);
