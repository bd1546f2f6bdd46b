-- An outbox row used to be deleted as soon as its event was in a stream, so an event
-- relayed but not yet ingested was lost with the stream when Redis restarted without
-- persistence (or failed over to a replica that had not received it). Now the relay only
-- marks a row with the stream entry it went to; the worker deletes the row in the
-- transaction that stores its event, and the relay sends a row again when its entry is no
-- longer in the stream although the row is still here.
ALTER TABLE outbox
    ADD COLUMN event_id text GENERATED ALWAYS AS ((payload::jsonb) ->> 'id') STORED,
    ADD COLUMN relayed_at timestamptz,
    ADD COLUMN relayed_stream text,
    ADD COLUMN relayed_entry text;

-- What the worker deletes by, and what the relay takes next even while a stopped worker
-- leaves a backlog of relayed rows. The check for lost entries reads relayed rows in id
-- order (the oldest are relayed first) and needs no index of its own: every index here is
-- written again when a row is marked relayed.
CREATE INDEX outbox_event_idx ON outbox (event_id);
CREATE INDEX outbox_unrelayed_idx ON outbox (id) WHERE relayed_at IS NULL;
