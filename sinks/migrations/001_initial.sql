-- Every versioned table is a ReplacingMergeTree: a replay after a crash writes the same key again
-- with a newer version, and readers take the latest (FINAL or argMax), so writes are idempotent.

CREATE TABLE IF NOT EXISTS activity (
    tenant LowCardinality(String),
    student_id String,
    event_id String,
    type LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    day Date,
    module Nullable(String),
    detail String,
    source String,
    received_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, student_id, event_id);

CREATE TABLE IF NOT EXISTS daily_measures (
    tenant LowCardinality(String),
    student_id String,
    day Date,
    ele_minutes Float64,
    minutes_by_module Map(String, Float64),
    no_module_minutes Float64,
    app_choices UInt32,
    event_checkins UInt32,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, student_id, day);

CREATE TABLE IF NOT EXISTS daily_scores (
    tenant LowCardinality(String),
    student_id String,
    day Date,
    college LowCardinality(String),
    daily_score Float64,
    score_7d Float64,
    band LowCardinality(String),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, student_id, day);

CREATE TABLE IF NOT EXISTS students (
    tenant LowCardinality(String),
    student_id String,
    college LowCardinality(String),
    programme String,
    year_group String,
    tutor_id String,
    updated_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, student_id);

CREATE TABLE IF NOT EXISTS attendance (
    tenant LowCardinality(String),
    student_id String,
    session_id String,
    event_id String,
    occurred_at DateTime64(3, 'UTC'),
    day Date,
    status LowCardinality(String),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, student_id, session_id);

CREATE TABLE IF NOT EXISTS consent_log (
    tenant LowCardinality(String),
    student_id String,
    event_id String,
    granted Bool,
    occurred_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(received_at)
ORDER BY (tenant, student_id, event_id);

CREATE TABLE IF NOT EXISTS review_queue (
    alert_id String,
    tenant LowCardinality(String),
    student_id String,
    tutor_id String,
    rule LowCardinality(String),
    day Date,
    evidence String,
    status LowCardinality(String),
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, student_id, alert_id);

CREATE TABLE IF NOT EXISTS review_decisions (
    tenant LowCardinality(String),
    student_id String,
    event_id String,
    alert_id String,
    decision LowCardinality(String),
    tutor_id String,
    note String,
    exempt_until Nullable(Date),
    occurred_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (tenant, student_id, event_id);

CREATE TABLE IF NOT EXISTS dead_letters (
    topic String,
    partition Int32,
    offset Int64,
    key Nullable(String),
    key_encoding LowCardinality(String),
    original String,
    original_encoding LowCardinality(String),
    reason LowCardinality(String),
    detail String,
    dead_lettered_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset);

-- Activity of students without consent: never stored, only counted. The row keeps a hash of the
-- event id (no student id) so that a replay counts each event once.
CREATE TABLE IF NOT EXISTS unconsented_events (
    tenant LowCardinality(String),
    day Date,
    type LowCardinality(String),
    event_hash UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (tenant, day, type, event_hash);

CREATE VIEW IF NOT EXISTS unconsented_daily AS
SELECT tenant, day, type, uniqExact(event_hash) AS events
FROM unconsented_events
GROUP BY tenant, day, type;

CREATE TABLE IF NOT EXISTS privacy_audit (
    tenant LowCardinality(String),
    student_id String,
    action LowCardinality(String),
    reason String,
    deleted_rows Map(String, UInt64),
    at DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY (tenant, at, student_id);
