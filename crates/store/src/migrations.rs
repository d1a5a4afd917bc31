//! Schema migrations: one list for both engines; `{ID}` becomes each engine's identity column.

use crate::db::{Db, Engine, Tx};
use crate::error::StoreError;

/// Migrations in order; never edit one that has shipped, add a new one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "registry, accounts and audit", V1),
    (2, "covering index for list totals", V2),
    (3, "build year index with id for paging", V3),
    (4, "indexes for paging by name and within a region", V4),
    (5, "assessments, rankings, annual plans and the estate timeline", V5),
    (6, "projects, their parties and approvals", V6),
    (7, "the renovation menu and schemes", V7),
    (8, "acceptance and its signatures", V8),
    (9, "the six-month review and rectification tasks", V9),
    (10, "the archive: documents and their files", V10),
    (11, "construction: schedule nodes, inspections and design changes", V11),
    (12, "indexes for what is late: nodes not started, open rectification tasks", V12),
    (13, "site logs, material entries, and documents attached to a log, a task or an assessment finding", V13),
    (14, "residents' access, public notices and owners' decisions with their ballot chain", V14),
    (15, "needs and satisfaction surveys, their answers, and photos filed by a survey", V15),
    (16, "phone one-time codes for residents", V16),
    (17, "regions whose estates have a public progress page", V17),
    (18, "regions' changes to the archive checklist", V18),
    (19, "residents' service requests", V19),
    (20, "funds: allocations, contracts, disbursements and the hash-chained ledger", V20),
    (21, "funds: co-funding plans, residents' contributions, payment bases, upkeep accounts, report indexes", V21),
    (22, "funds: payments and contributions know the entry that reversed them; reversals indexed; a decision's amount", V22),
    (23, "failed tries kept in the database (sign-in, codes), shared by restarts and servers", V23),
    (24, "residents' representatives named on an acceptance", V24),
    (25, "how an owner's standing was verified (text message or a clerk's check of the certificate)", V25),
    (26, "approval steps record their document; construction ahead of the permit only by the bureau's recorded exception", V26),
    (27, "public progress pages published estate by estate", V27),
    (28, "ledger entries hash every column a report reads (version 2)", V28),
    (29, "who set each account's password (four eyes: an account whose password its colleague set is not a second pair of eyes)", V29),
    (30, "spendings from a maintenance fund are asked for by one clerk and approved by another", V30),
    (31, "everyone who ever set an account's password, not only the last", V31),
    (32, "a decision's running counts, kept with each ballot so a tally reads one row", V32),
    (33, "an owner's first ballot found by index, not by scanning the decision's ballots", V33),
    (34, "a finished assessment is final: a correction is a new version with its reason", V34),
    (35, "each account's balance, kept with each ledger entry so a payment reads one row", V35),
    (36, "statistics: each estate's and project's parts of the indicators, and every region's totals", V36),
    (37, "statistical reports: versions filed by counties, their review up the ladder, deadlines per region", V37),
    (38, "performance evaluation: a region's scheme per year and the evaluations of the regions below", V38),
    (39, "statistics: each year's and the whole programme's totals kept beside the months'", V39),
    (40, "statistics: \"why?\" reads the parts it counts from their index alone", V40),
    (41, "a region's menu item names the statistical indicator its quantities count in", V41),
    (42, "funds reports: what projects were paid, kept by region, paying region, source and Beijing month", V42),
    (43, "report deadlines keep every change, so that a change moves only reports not yet due", V43),
    (44, "requests: the category tree, the suggestion, units and routing, supervision, merges and the timeline", V44),
    (45, "requests: early warnings (a danger named, a pile-up of one kind) and the indexes of hot spots", V45),
    (46, "requests: 12345 hotline work orders, each imported once, and the ones no estate was found for", V46),
    (47, "requests: Open311 GeoReport v2 clients (an api_key per application and jurisdiction) and what their requests carry", V47),
    (48, "grids: a community's grids with their estates, workers and responsible person, weekly patrols, mediation records", V48),
    (49, "requests: each request's county, kept for the newest-first listings of a county (Open311)", V49),
    (50, "requests: a region's changes to the category tree (names, working days, unit, kinds of its own, kinds retired)", V50),
    (51, "alarms: the device registry, alarms (one open per device and type) and the dead letters of the ingest", V51),
    (52, "alarms: raw telemetry by hour (partitioned by day on PostgreSQL), hourly aggregates, the hours rolled up; a dead letter names the estate of a known device", V52),
    (53, "alarms: a camera's snapshot kept with the alarm it raised", V53),
    (54, "alarms: escalation chains per estate and type, every notification sent, the last step sent per alarm, photos of the response", V54),
    (55, "alarms: a region's or an estate's changes to a device kind's rules", V55),
    (56, "background jobs taken once in a cluster by a lease (ledger checks, periodic work)", V56),
    (57, "files: where each file's content is (the database, or the file store by its SHA-256)", V57),
];

/// A file's content is in its row (`database`, as before) or in the file store (`object`, the
/// row's content then empty); `huanxin files migrate` moves the first kind out.
const V57: &str = r#"
ALTER TABLE files ADD COLUMN stored TEXT NOT NULL DEFAULT 'database';
"#;

/// Background jobs (`jobs`): one row per job, unique by kind and key (a periodic job's slot, so
/// every server may offer it and one row results). A server takes a job by setting its holder and
/// a lease (milliseconds since the epoch on the database's clock) it renews while it works; a
/// job whose lease ran out is taken over. The outcome is written only by the holder.
const V56: &str = r#"
CREATE TABLE jobs (
    id {ID},
    kind TEXT NOT NULL,
    run_key TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL,
    progress BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    holder TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_by BIGINT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    UNIQUE (kind, run_key)
);
CREATE INDEX jobs_open ON jobs (state, id);
CREATE INDEX jobs_kind ON jobs (kind, id);
"#;

/// Overrides of a kind's rules (`alarms::rules::RulesOverride` as JSON) set for a place: a region
/// by its code or an estate as `estate:{id}`; the nearest wins field by field.
const V55: &str = r#"
CREATE TABLE alarm_rule_overrides (
    place TEXT NOT NULL,
    device_kind TEXT NOT NULL,
    rules TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (place, device_kind)
);
"#;

/// Escalation (`alarms::escalation`): an estate's chain per alarm type (`*` for every type), each
/// notification with its channel, recipient and outcome, the last step of the chain an alarm's
/// notifications went out for (claimed by one conditional update, so one server sends it) and
/// when its next step is due (none once acknowledged, ended or at the chain's end), and the
/// photos the responder took. Alarms open at the upgrade are told at once.
const V54: &str = r#"
ALTER TABLE alarms ADD COLUMN escalated_step BIGINT NOT NULL DEFAULT -1;
ALTER TABLE alarms ADD COLUMN escalate_at TEXT;
UPDATE alarms SET escalate_at = first_at WHERE state = 'active';
CREATE INDEX alarms_escalate ON alarms (escalate_at);
CREATE TABLE alarm_chains (
    estate_id BIGINT NOT NULL REFERENCES estates (id),
    alarm_type TEXT NOT NULL,
    steps TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (estate_id, alarm_type)
);
CREATE TABLE alarm_notifications (
    id {ID},
    alarm_id BIGINT NOT NULL REFERENCES alarms (id),
    step BIGINT NOT NULL,
    tier TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id),
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE INDEX alarm_notifications_alarm ON alarm_notifications (alarm_id, id);
CREATE TABLE alarm_photos (
    alarm_id BIGINT NOT NULL REFERENCES alarms (id),
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (alarm_id, sha256)
);
"#;

/// The snapshot a camera sent with the event that raised an alarm (a file by its SHA-256).
const V53: &str = r#"
ALTER TABLE alarms ADD COLUMN snapshot TEXT;
"#;

/// Telemetry (`alarms::telemetry`): one row per reading, keyed by its hour first, so that old
/// hours are dropped by the key (SQLite) or as whole daily partitions (PostgreSQL, `{BY_HOUR}`;
/// the partitions are made ahead by the upkeep); hourly aggregates kept longer; the hours whose
/// aggregates are up to date (a late reading takes its hour out again).
const V52: &str = r#"
CREATE TABLE telemetry (
    hour BIGINT NOT NULL,
    device_id BIGINT NOT NULL,
    metric TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hour, device_id, metric, at_ms)
) {BY_HOUR};
CREATE TABLE telemetry_hourly (
    device_id BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    metric TEXT NOT NULL,
    n BIGINT NOT NULL,
    total DOUBLE PRECISION NOT NULL,
    low DOUBLE PRECISION NOT NULL,
    high DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device_id, hour, metric)
);
CREATE INDEX telemetry_hourly_hour ON telemetry_hourly (hour);
CREATE TABLE telemetry_rollups (
    hour BIGINT PRIMARY KEY,
    rolled_at TEXT NOT NULL
);
ALTER TABLE dead_letters ADD COLUMN estate_id BIGINT;
CREATE INDEX dead_letters_estate ON dead_letters (estate_id, id);
"#;

/// Devices, their alarms and the messages the ingest could not read (`alarms`). An open alarm
/// holds `open_key` (device and type), unique: a repeat, however many arrive at once, counts on
/// it; clearing sets the key to NULL, so that the next one is a new alarm.
const V51: &str = r#"
CREATE TABLE devices (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id),
    building_id BIGINT REFERENCES buildings (id),
    place TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    vendor TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    serial TEXT NOT NULL UNIQUE,
    device_key TEXT NOT NULL,
    last_heard_at TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX devices_estate ON devices (estate_id);
CREATE TABLE alarms (
    id {ID},
    device_id BIGINT NOT NULL REFERENCES devices (id),
    estate_id BIGINT NOT NULL REFERENCES estates (id),
    alarm_type TEXT NOT NULL,
    severity TEXT NOT NULL,
    severity_rank BIGINT NOT NULL,
    state TEXT NOT NULL,
    open_key TEXT,
    repeats BIGINT NOT NULL DEFAULT 1,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    acknowledged_by TEXT,
    acknowledged_at TEXT,
    cleared_by TEXT,
    cleared_at TEXT,
    note TEXT NOT NULL DEFAULT '',
    closed_by TEXT,
    closed_at TEXT
);
CREATE UNIQUE INDEX alarms_open ON alarms (open_key);
CREATE INDEX alarms_estate ON alarms (estate_id, state);
CREATE INDEX alarms_device ON alarms (device_id, id);
CREATE TABLE dead_letters (
    id {ID},
    received_at TEXT NOT NULL,
    source TEXT NOT NULL,
    topic TEXT NOT NULL,
    code TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload TEXT NOT NULL
);
"#;

/// A region's changes to the request category tree, one row per region and code (`requests::categories`).
const V50: &str = r#"
CREATE TABLE request_category_settings (
    region_code TEXT NOT NULL REFERENCES regions (code),
    code TEXT NOT NULL,
    zh TEXT,
    en TEXT,
    working_days BIGINT,
    unit_kind TEXT,
    retired BOOLEAN NOT NULL DEFAULT FALSE,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (region_code, code)
);
"#;

/// A request's county (the first six digits of its estate's community), so that a county's newest
/// requests are read straight off an index instead of sorting all of the county's.
const V49: &str = r#"
ALTER TABLE service_requests ADD COLUMN county_code TEXT;
UPDATE service_requests SET county_code = (SELECT SUBSTR(e.community_code, 1, 6) FROM estates e WHERE e.id = service_requests.estate_id);
CREATE INDEX service_requests_county_created ON service_requests (county_code, created_at, id);
CREATE INDEX service_requests_county_category ON service_requests (county_code, category, created_at, id);
"#;

/// Grids, their estates and people, patrols (a hazard found links its request), mediations (`grids`).
const V48: &str = r#"
CREATE TABLE grids (
    id {ID},
    region_code TEXT NOT NULL REFERENCES regions (code),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    boundary TEXT,
    leader_user_id BIGINT REFERENCES users (id),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX grids_code ON grids (region_code, code);
CREATE TABLE grid_estates (
    grid_id BIGINT NOT NULL REFERENCES grids (id) ON DELETE CASCADE,
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    PRIMARY KEY (grid_id, estate_id)
);
CREATE UNIQUE INDEX grid_estates_estate ON grid_estates (estate_id);
CREATE TABLE grid_workers (
    grid_id BIGINT NOT NULL REFERENCES grids (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (grid_id, user_id)
);
CREATE INDEX grid_workers_user ON grid_workers (user_id);
CREATE TABLE patrols (
    id {ID},
    grid_id BIGINT NOT NULL REFERENCES grids (id),
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    week TEXT NOT NULL,
    at TEXT NOT NULL,
    lon DOUBLE PRECISION,
    lat DOUBLE PRECISION,
    distance_m DOUBLE PRECISION,
    items TEXT NOT NULL,
    hazards BIGINT NOT NULL,
    note TEXT NOT NULL,
    photos TEXT NOT NULL DEFAULT ''
);
CREATE INDEX patrols_week ON patrols (week, estate_id);
CREATE INDEX patrols_estate ON patrols (estate_id, at);
CREATE INDEX patrols_user ON patrols (user_id, week);
ALTER TABLE service_requests ADD COLUMN patrol_id BIGINT REFERENCES patrols (id);
CREATE INDEX service_requests_patrol ON service_requests (patrol_id);
CREATE TABLE mediations (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    held_on TEXT NOT NULL,
    parties TEXT NOT NULL,
    issue TEXT NOT NULL,
    outcome TEXT NOT NULL,
    agreement TEXT NOT NULL,
    agreement_sha256 TEXT REFERENCES files (sha256),
    agreement_type TEXT,
    agreement_name TEXT,
    mediator TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX mediations_estate ON mediations (estate_id, held_on);
"#;

/// Open311 clients and what a request filed through one carries (`requests::open311`).
const V47: &str = r#"
CREATE TABLE open311_clients (
    id {ID},
    region_code TEXT NOT NULL REFERENCES regions (code),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_by TEXT,
    revoked_at TEXT
);
CREATE INDEX open311_clients_region ON open311_clients (region_code);
ALTER TABLE service_requests ADD COLUMN open311_client BIGINT REFERENCES open311_clients (id);
ALTER TABLE service_requests ADD COLUMN open311_token TEXT;
ALTER TABLE service_requests ADD COLUMN media_url TEXT NOT NULL DEFAULT '';
ALTER TABLE service_requests ADD COLUMN lon DOUBLE PRECISION;
ALTER TABLE service_requests ADD COLUMN lat DOUBLE PRECISION;
CREATE UNIQUE INDEX service_requests_open311_token ON service_requests (open311_token);
"#;

/// Requests imported from the 12345 hotline keep their work order (unique in the importing
/// desk's region: never imported twice there) and the caller's phone; a work order whose address
/// names no estate, or several, waits for a clerk to choose in `hotline_unmatched` (kept with the
/// request it became, so that an id never names another work order).
const V46: &str = r#"
ALTER TABLE service_requests ADD COLUMN work_order TEXT;
ALTER TABLE service_requests ADD COLUMN work_order_region TEXT;
ALTER TABLE service_requests ADD COLUMN caller_phone TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX service_requests_work_order ON service_requests (work_order_region, work_order);
CREATE TABLE hotline_unmatched (
    id {ID},
    region_code TEXT NOT NULL,
    work_order TEXT NOT NULL,
    request_id BIGINT REFERENCES service_requests (id),
    called_at TEXT NOT NULL,
    caller TEXT NOT NULL,
    caller_phone TEXT NOT NULL,
    address TEXT NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    candidates TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE UNIQUE INDEX hotline_unmatched_order ON hotline_unmatched (region_code, work_order);
"#;

/// Warnings raised as requests are filed (`requests::warnings`), and the indexes the hot spots and
/// the pile-up counts read.
const V45: &str = r#"
CREATE TABLE request_warnings (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    kind TEXT NOT NULL,
    request_id BIGINT NOT NULL REFERENCES service_requests (id) ON DELETE CASCADE,
    detail TEXT NOT NULL,
    recent BIGINT NOT NULL,
    before_count BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    notified BIGINT NOT NULL DEFAULT 0,
    acknowledged_by TEXT,
    acknowledged_at TEXT
);
CREATE INDEX request_warnings_estate ON request_warnings (estate_id, category, created_at);
CREATE INDEX request_warnings_request ON request_warnings (request_id);
CREATE INDEX service_requests_created ON service_requests (created_at);
CREATE INDEX service_requests_estate_created ON service_requests (estate_id, created_at);
"#;

/// Requests are filed under the leaves of the category tree (the four old kinds are mapped right
/// after this migration runs, [`Db::map_old_request_categories`]), keep the suggestion the filer
/// saw and who confirmed the category, and are routed to a unit: a region's office (community,
/// street, housing bureau) or a registered organisation (property company, contractor, utility)
/// whose staff are its members. Every hand-over is an event of the request's timeline.
const V44: &str = r#"
CREATE TABLE request_units (
    id {ID},
    region_code TEXT NOT NULL REFERENCES regions (code),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (region_code, name)
);
CREATE TABLE unit_members (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    unit_id BIGINT NOT NULL REFERENCES request_units (id) ON DELETE CASCADE
);
CREATE INDEX unit_members_unit ON unit_members (unit_id);
ALTER TABLE service_requests ADD COLUMN suggested_category TEXT;
ALTER TABLE service_requests ADD COLUMN category_confirmed_by TEXT;
ALTER TABLE service_requests ADD COLUMN unit_kind TEXT NOT NULL DEFAULT 'community';
ALTER TABLE service_requests ADD COLUMN unit_region TEXT NOT NULL DEFAULT '';
ALTER TABLE service_requests ADD COLUMN unit_id BIGINT REFERENCES request_units (id);
ALTER TABLE service_requests ADD COLUMN unit_name TEXT NOT NULL DEFAULT '';
ALTER TABLE service_requests ADD COLUMN supervised_by TEXT;
ALTER TABLE service_requests ADD COLUMN supervised_at TEXT;
ALTER TABLE service_requests ADD COLUMN merged_into BIGINT REFERENCES service_requests (id);
ALTER TABLE service_requests ADD COLUMN closed_at TEXT;
UPDATE service_requests SET unit_region = (SELECT e.community_code FROM estates e WHERE e.id = service_requests.estate_id);
UPDATE service_requests SET status = 'closed', closed_at = resolved_at WHERE status = 'resolved' AND rating IS NOT NULL;
CREATE INDEX service_requests_unit ON service_requests (unit_id, status);
CREATE INDEX service_requests_open ON service_requests (status, due_on);
CREATE TABLE request_events (
    id {ID},
    request_id BIGINT NOT NULL REFERENCES service_requests (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    unit_name TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    rating BIGINT
);
CREATE INDEX request_events_request ON request_events (request_id, id);
"#;

/// Every change of a report deadline, in order: a report's due day is worked out from the changes
/// made before it was due (`reports::due_with_changes`), so a change never moves a past one.
const V43: &str = r#"
CREATE TABLE report_deadline_changes (
    id {ID},
    region_code TEXT NOT NULL,
    form TEXT NOT NULL,
    working_days BIGINT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL
);
CREATE INDEX report_deadline_changes_form ON report_deadline_changes (form, region_code);
INSERT INTO report_deadline_changes (region_code, form, working_days, set_by, set_at)
    SELECT region_code, form, working_days, set_by, set_at FROM report_deadlines ORDER BY set_at;
"#;

/// What a funds report reads, kept with each payment: for every region above a paid project (the
/// country down to the project's own), the amount by the report's row it counts in (the region
/// one level down holding the paying allocation's region, or the region itself), source and
/// Beijing month. A country's report reads a few thousand rows, not ten million ledger entries.
/// Filled from the ledger right after this migration runs ([`Db::rebuild_funds_paid`]).
const V42: &str = r#"
CREATE TABLE funds_paid (
    region_code TEXT NOT NULL,
    paid_at TEXT NOT NULL,
    source TEXT NOT NULL,
    month TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (region_code, month, paid_at, source)
);
"#;

/// The indicator a region's version of a menu item counts in: empty for none; NULL (rows written
/// before) for the national mapping of its code.
const V41: &str = r#"
ALTER TABLE menu_items ADD COLUMN indicator TEXT;
"#;

/// "Why?" for a country's figure sums tens of thousands of parts: with the subject and value in
/// the index it reads the index alone (1.4 s cold and 0.3 s warm on SQLite at national size, 65 ms
/// with it), instead of one table row per part.
const V40: &str = r#"
DROP INDEX stat_parts_counted;
CREATE INDEX stat_parts_counted ON stat_parts (indicator, period, region_code, subject, subject_id, value);
"#;

/// Statistics: a month's change also moves its year's total ("2025-00") and the programme's
/// ("0000"), so that a year or the whole programme reads one kept row per indicator and region.
/// The rollups of the totals already kept are summed here, in the database (no rebuild: that
/// would read every estate's records at start-up).
pub(crate) const V39: &str = r#"
INSERT INTO stat_totals (region_code, parent_code, indicator, period, value)
SELECT region_code, parent_code, indicator, SUBSTR(period, 1, 4) || '-00', CAST(SUM(value) AS BIGINT) FROM stat_totals
WHERE LENGTH(period) = 7 GROUP BY region_code, parent_code, indicator, SUBSTR(period, 1, 4);
INSERT INTO stat_totals (region_code, parent_code, indicator, period, value)
SELECT region_code, parent_code, indicator, '0000', CAST(SUM(value) AS BIGINT) FROM stat_totals
WHERE (LENGTH(period) = 4 AND period >= '2019' AND period <> '0000') OR (LENGTH(period) = 7 AND period >= '2019-01' AND SUBSTR(period, 6, 2) <> '00')
GROUP BY region_code, parent_code, indicator;
"#;

/// Statistics (issue 15): what each estate (or project) adds to each indicator and period, and the
/// totals of every region above it, kept with each change. Filled from the records by
/// [`Db::rebuild_statistics`] right after this migration runs on a database that has records.
/// Performance evaluation (issue 15): a region's scheme for a year (JSON of dimensions and
/// indicators) and one evaluation per region below and year: its own scores, the reviewer's, the
/// total and grade once reviewed.
const V38: &str = r#"
CREATE TABLE evaluation_schemes (
    region_code TEXT NOT NULL,
    year BIGINT NOT NULL,
    scheme_json TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (region_code, year)
);
CREATE TABLE evaluations (
    id {ID},
    evaluator_code TEXT NOT NULL,
    region_code TEXT NOT NULL,
    year BIGINT NOT NULL,
    status TEXT NOT NULL,
    own_json TEXT NOT NULL,
    reviewed_json TEXT NOT NULL,
    total BIGINT,
    grade TEXT,
    scored_by TEXT NOT NULL,
    submitted_by TEXT NOT NULL DEFAULT '',
    submitted_at TEXT,
    reviewed_by TEXT NOT NULL,
    reviewed_at TEXT,
    UNIQUE (region_code, year)
);
CREATE INDEX evaluations_evaluator ON evaluations (evaluator_code, year);
"#;

/// Statistical reports (issue 15): one row per version of a county's report of a form and period;
/// each save, submission, approval, return and correction is a step; a region may set its
/// counties' deadline for a form.
const V37: &str = r#"
CREATE TABLE stat_reports (
    id {ID},
    region_code TEXT NOT NULL,
    form TEXT NOT NULL,
    period TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    awaiting TEXT,
    typed_json TEXT NOT NULL,
    computed_json TEXT,
    preparer TEXT NOT NULL,
    phone TEXT NOT NULL,
    correction_reason TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TEXT,
    approved_at TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (region_code, form, period, version)
);
CREATE INDEX stat_reports_awaiting ON stat_reports (awaiting, status);
CREATE INDEX stat_reports_period ON stat_reports (form, period, region_code);
CREATE TABLE stat_report_steps (
    id {ID},
    report_id BIGINT NOT NULL REFERENCES stat_reports (id),
    action TEXT NOT NULL,
    region_code TEXT NOT NULL,
    username TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX stat_report_steps_report ON stat_report_steps (report_id);
CREATE TABLE report_deadlines (
    region_code TEXT NOT NULL,
    form TEXT NOT NULL,
    working_days BIGINT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (region_code, form)
);
"#;

const V36: &str = r#"
CREATE TABLE stat_parts (
    subject TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    region_code TEXT NOT NULL,
    indicator TEXT NOT NULL,
    period TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (subject, subject_id, indicator, period)
);
CREATE INDEX stat_parts_counted ON stat_parts (indicator, period, region_code);
CREATE TABLE stat_totals (
    region_code TEXT NOT NULL,
    parent_code TEXT NOT NULL,
    indicator TEXT NOT NULL,
    period TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (region_code, indicator, period)
);
CREATE INDEX stat_totals_children ON stat_totals (parent_code, period, indicator);
CREATE INDEX contributions_estate ON contributions (estate_id);
CREATE INDEX estate_events_reached ON estate_events (estate_id, to_status);
"#;

/// Each ledger account's balance (debits less credits), updated with every entry under the
/// ledger's lock, so that checking a payment reads one row instead of summing the account's
/// entries (a growing cost: 2,000 payments from one allocation summed 2,000 rows four times each).
/// `verify-ledger` compares it with the ledger.
const V35: &str = r#"
CREATE TABLE account_balances (
    account TEXT PRIMARY KEY,
    balance BIGINT NOT NULL
);
INSERT INTO account_balances (account, balance)
SELECT account, SUM(amount) FROM (
    SELECT debit AS account, amount FROM ledger_entries
    UNION ALL SELECT credit AS account, -amount AS amount FROM ledger_entries
) moves GROUP BY account;
"#;

/// Why a version of an estate's assessment corrects the finished one before it.
const V34: &str = r#"
ALTER TABLE assessments ADD COLUMN correction_reason TEXT;
"#;

/// An owner's first ballot in a decision (`ORDER BY seq LIMIT 1` for one owner key) is read with
/// every ballot: with `(decision_id, owner_key)` alone SQLite walked the decision's ballots in
/// `seq` order instead (1.1 ms per ballot at 10,000 ballots, growing with each; 11 µs with this).
const V33: &str = r#"
CREATE INDEX ballots_owner_seq ON ballots (decision_id, owner_key, seq);
DROP INDEX ballots_owner;
"#;

/// A decision's electorate and each choice's area and heads so far, kept with each ballot under the
/// decision's lock (issue 19: a tally no longer recounts thousands of ballots); existing decisions
/// are counted once here the way `domain::decisions::recount` counts (an owner's head by their
/// first ballot).
const V32: &str = r#"
ALTER TABLE decisions ADD COLUMN electorate_area BIGINT NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN electorate_owners BIGINT NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN agree_area BIGINT NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN agree_owners BIGINT NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN disagree_area BIGINT NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN disagree_owners BIGINT NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN abstain_area BIGINT NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN abstain_owners BIGINT NOT NULL DEFAULT 0;
UPDATE decisions SET
    electorate_area = COALESCE((SELECT SUM(e.area) FROM decision_electors e WHERE e.decision_id = decisions.id), 0),
    electorate_owners = (SELECT COUNT(DISTINCT e.owner_key) FROM decision_electors e WHERE e.decision_id = decisions.id),
    agree_area = COALESCE((SELECT SUM(e.area) FROM ballots b JOIN decision_electors e ON e.decision_id = b.decision_id AND e.dwelling_id = b.dwelling_id
        WHERE b.decision_id = decisions.id AND b.choice = 'agree'), 0),
    disagree_area = COALESCE((SELECT SUM(e.area) FROM ballots b JOIN decision_electors e ON e.decision_id = b.decision_id AND e.dwelling_id = b.dwelling_id
        WHERE b.decision_id = decisions.id AND b.choice = 'disagree'), 0),
    abstain_area = COALESCE((SELECT SUM(e.area) FROM ballots b JOIN decision_electors e ON e.decision_id = b.decision_id AND e.dwelling_id = b.dwelling_id
        WHERE b.decision_id = decisions.id AND b.choice = 'abstain'), 0),
    agree_owners = (SELECT COUNT(*) FROM ballots b WHERE b.decision_id = decisions.id AND b.choice = 'agree'
        AND b.seq = (SELECT MIN(p.seq) FROM ballots p WHERE p.decision_id = b.decision_id AND p.owner_key = b.owner_key)),
    disagree_owners = (SELECT COUNT(*) FROM ballots b WHERE b.decision_id = decisions.id AND b.choice = 'disagree'
        AND b.seq = (SELECT MIN(p.seq) FROM ballots p WHERE p.decision_id = b.decision_id AND p.owner_key = b.owner_key)),
    abstain_owners = (SELECT COUNT(*) FROM ballots b WHERE b.decision_id = decisions.id AND b.choice = 'abstain'
        AND b.seq = (SELECT MIN(p.seq) FROM ballots p WHERE p.decision_id = b.decision_id AND p.owner_key = b.owner_key));
"#;

/// Everyone other than the user who ever set an account's password, comma-separated: the one who
/// set it could also have set the user's "own" one, so four eyes never count them as two.
const V31: &str = r#"
ALTER TABLE users ADD COLUMN password_setters TEXT NOT NULL DEFAULT '';
UPDATE users SET password_setters = password_set_by WHERE password_set_by <> '' AND password_set_by <> username;
"#;

/// A spending from a maintenance fund waits for a second person: asked for here, written to the
/// ledger (and `upkeep_movements`) only when a colleague approves it.
const V30: &str = r#"
CREATE TABLE upkeep_requests (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id),
    amount BIGINT NOT NULL,
    memo TEXT NOT NULL,
    payee TEXT NOT NULL,
    decision_id BIGINT REFERENCES decisions (id),
    emergency BOOLEAN NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    note TEXT NOT NULL DEFAULT '',
    movement_id BIGINT REFERENCES upkeep_movements (id)
);
CREATE INDEX upkeep_requests_estate ON upkeep_requests (estate_id, id);
"#;

/// Who last set an account's password: an administrator (who then knows it) or the user. Until the
/// user sets their own, the administrator who set it is not a second pair of eyes on their money.
const V29: &str = r#"
ALTER TABLE users ADD COLUMN password_set_by TEXT NOT NULL DEFAULT '';
"#;

/// Entries written from now on hash their source, project, estate, reversal and author too (version
/// 2); earlier entries keep the hash they were written with (version 1).
const V28: &str = r#"
ALTER TABLE ledger_entries ADD COLUMN hash_v BIGINT NOT NULL DEFAULT 1;
"#;

/// An estate's own choice to publish its progress page (or not), over its region's default.
const V27: &str = r#"
CREATE TABLE estate_public_pages (
    estate_id BIGINT PRIMARY KEY REFERENCES estates (id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL
);
"#;

/// The lawful order across modules: an approval step records the document it ended with; construction
/// records wait for the permit unless the bureau recorded why not (audited).
const V26: &str = r#"
ALTER TABLE approval_steps ADD COLUMN document_no TEXT NOT NULL DEFAULT '';
ALTER TABLE approval_steps ADD COLUMN document_id BIGINT;
CREATE TABLE permit_exceptions (
    estate_id BIGINT PRIMARY KEY REFERENCES estates (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
"#;

/// An owner's standing is verified, never typed: by the text-message code to the registered mobile
/// or by a clerk against the property certificate (who, when, which certificate). A binding by
/// invitation code whose typed details match a registered owner is only a claim for the clerk.
const V25: &str = r#"
ALTER TABLE resident_dwellings ADD COLUMN claims_owner BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE resident_dwellings ADD COLUMN verified_how TEXT NOT NULL DEFAULT '';
ALTER TABLE resident_dwellings ADD COLUMN verified_by TEXT NOT NULL DEFAULT '';
ALTER TABLE resident_dwellings ADD COLUMN verified_at TEXT NOT NULL DEFAULT '';
ALTER TABLE resident_dwellings ADD COLUMN certificate_no TEXT NOT NULL DEFAULT '';
"#;

/// The residents' representatives of an acceptance: named accounts, chosen by the owners or the
/// community; only they sign for the residents.
const V24: &str = r#"
CREATE TABLE acceptance_representatives (
    acceptance_id BIGINT NOT NULL REFERENCES acceptances (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    chosen_by TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (acceptance_id, user_id)
);
"#;

/// Failed tries per key (an account and address, an address): the back-off outlives a restart and is
/// shared by every server on the database.
const V23: &str = r#"
CREATE TABLE throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_at TEXT NOT NULL,
    blocked_until TEXT NOT NULL
);
"#;

/// A reversed payment or contribution names its reversing entry, so lists and totals leave it out;
/// reversals are found by an index.
const V22: &str = r#"
ALTER TABLE disbursements ADD COLUMN reversed_by BIGINT;
ALTER TABLE contributions ADD COLUMN reversed_by BIGINT;
-- Whether an entry was reversed is asked on every reversal and for every allocation listed; a
-- reversal finds the payment or contribution its entry recorded.
CREATE INDEX ledger_reverses ON ledger_entries (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX disbursements_ledger ON disbursements (ledger_seq) WHERE ledger_seq IS NOT NULL;
CREATE INDEX contributions_ledger ON contributions (ledger_seq);
-- What was spent under an owners' decision.
CREATE INDEX upkeep_movements_decision ON upkeep_movements (decision_id) WHERE decision_id IS NOT NULL;
-- What owners allow to be spent from the maintenance fund under a decision to use it (fen).
ALTER TABLE decisions ADD COLUMN amount BIGINT;
"#;

/// Funds: allocations handed down from a source, project contracts, disbursements with their
/// approval, and the ledger (double entry, append-only, hash-chained; its head row is the lock that
/// orders every entry). Amounts in fen.
const V21: &str = r#"
CREATE TABLE funding_plan_lines (
    id {ID},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT '',
    item TEXT NOT NULL DEFAULT '',
    amount BIGINT NOT NULL,
    reward BOOLEAN NOT NULL
);
CREATE INDEX funding_plan_lines_project ON funding_plan_lines (project_id);

ALTER TABLE allocations ADD COLUMN pool_of BIGINT REFERENCES projects (id);
CREATE UNIQUE INDEX allocations_pool ON allocations (pool_of);

CREATE TABLE contributions (
    id {ID},
    project_id BIGINT NOT NULL REFERENCES projects (id),
    estate_id BIGINT NOT NULL REFERENCES estates (id),
    dwelling_id BIGINT REFERENCES dwellings (id),
    building_id BIGINT REFERENCES buildings (id),
    households BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    method TEXT NOT NULL,
    purpose TEXT NOT NULL DEFAULT '',
    paid_on TEXT NOT NULL,
    ledger_seq BIGINT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE INDEX contributions_project ON contributions (project_id, id);

ALTER TABLE disbursements ADD COLUMN basis TEXT NOT NULL DEFAULT '';

ALTER TABLE ledger_entries ADD COLUMN estate_id BIGINT;
-- One covering index answers a project's balances by source and a region's payments by month
-- from the index alone (a project's entries lie together in it, however scattered in the table).
DROP INDEX ledger_project;
CREATE INDEX ledger_entries_project ON ledger_entries (project_id, at, source, debit, credit, amount) WHERE project_id IS NOT NULL;

CREATE TABLE upkeep_movements (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id),
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    memo TEXT NOT NULL,
    payee TEXT NOT NULL DEFAULT '',
    decision_id BIGINT REFERENCES decisions (id),
    emergency BOOLEAN NOT NULL,
    ledger_seq BIGINT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE INDEX upkeep_movements_estate ON upkeep_movements (estate_id, id);
"#;

const V20: &str = r#"
CREATE TABLE allocations (
    id {ID},
    parent_id BIGINT REFERENCES allocations (id),
    region_code TEXT NOT NULL REFERENCES regions (code),
    source TEXT NOT NULL,
    year BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    amount BIGINT NOT NULL,
    categories TEXT NOT NULL DEFAULT '',
    projects TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX allocations_region ON allocations (region_code, id);

CREATE TABLE project_contracts (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    amount BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE disbursements (
    id {ID},
    allocation_id BIGINT NOT NULL REFERENCES allocations (id),
    project_id BIGINT NOT NULL REFERENCES projects (id),
    category TEXT NOT NULL,
    payee TEXT NOT NULL,
    amount BIGINT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    ledger_seq BIGINT
);
CREATE INDEX disbursements_project ON disbursements (project_id, id);

CREATE TABLE ledger_head (
    id BIGINT PRIMARY KEY,
    entries BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO ledger_head (id, entries, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE ledger_entries (
    seq BIGINT PRIMARY KEY,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL,
    amount BIGINT NOT NULL,
    memo TEXT NOT NULL,
    source TEXT NOT NULL,
    project_id BIGINT,
    reverses BIGINT,
    entered_by TEXT NOT NULL,
    at TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX ledger_debit ON ledger_entries (debit);
CREATE INDEX ledger_credit ON ledger_entries (credit);
CREATE INDEX ledger_project ON ledger_entries (project_id, source) WHERE project_id IS NOT NULL;
"#;

/// Service requests (民生接待 / 诉求) from residents or taken by staff, their handling and rating.
const V19: &str = r#"
CREATE TABLE service_requests (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    dwelling_id BIGINT REFERENCES dwellings (id) ON DELETE SET NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    author TEXT NOT NULL,
    channel TEXT NOT NULL,
    category TEXT NOT NULL,
    text TEXT NOT NULL,
    status TEXT NOT NULL,
    due_on TEXT NOT NULL,
    created_at TEXT NOT NULL,
    answer TEXT NOT NULL DEFAULT '',
    handled_by TEXT,
    handled_at TEXT,
    resolved_at TEXT,
    rating BIGINT
);
CREATE INDEX service_requests_estate ON service_requests (estate_id, id);
CREATE INDEX service_requests_user ON service_requests (user_id);
"#;

/// A region's changes to the archive's completeness checklist (the national lines are in the code).
const V18: &str = r#"
CREATE TABLE archive_lines (
    region_code TEXT NOT NULL REFERENCES regions (code),
    section TEXT NOT NULL,
    kind TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (region_code, section, kind)
);
"#;

/// Public progress pages are off unless a region turns them on (for its whole subtree; the nearest
/// region with a setting decides).
const V17: &str = r#"
CREATE TABLE public_pages (
    region_code TEXT PRIMARY KEY REFERENCES regions (code),
    enabled BOOLEAN NOT NULL,
    updated_at TEXT NOT NULL
);
"#;

/// One pending one-time code per mobile number (only its hash), with its wrong tries.
const V16: &str = r#"
CREATE TABLE phone_codes (
    phone TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    tries BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX dwelling_owners_phone ON dwelling_owners (phone);
"#;

/// Surveys (问需, satisfaction) with their questions as JSON; answers per dwelling (`one_key` is the
/// dwelling when one answer per dwelling is the rule, else empty, so the unique key enforces it);
/// photos answered to a survey are archive documents that name it.
const V15: &str = r#"
CREATE TABLE surveys (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    purpose TEXT NOT NULL,
    questions_json TEXT NOT NULL,
    anonymous BOOLEAN NOT NULL,
    many_per_dwelling BOOLEAN NOT NULL,
    opens_on TEXT NOT NULL,
    closes_on TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX surveys_estate ON surveys (estate_id);

CREATE TABLE survey_answers (
    id {ID},
    survey_id BIGINT NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    dwelling_id BIGINT NOT NULL REFERENCES dwellings (id) ON DELETE CASCADE,
    one_key BIGINT,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    respondent TEXT NOT NULL,
    channel TEXT NOT NULL,
    answers_json TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (survey_id, one_key)
);
CREATE INDEX survey_answers_survey ON survey_answers (survey_id);

ALTER TABLE documents ADD COLUMN survey_id BIGINT REFERENCES surveys (id);
CREATE INDEX documents_survey ON documents (survey_id) WHERE survey_id IS NOT NULL;
"#;

/// Residents' invitation codes and bound dwellings; notices (公示) with objections and answers;
/// owners' decisions (表决): regional rule sets, the electorate fixed when voting is set up, and the
/// append-only, hash-chained ballots (one per dwelling).
const V14: &str = r#"
CREATE TABLE invitation_codes (
    code_hash TEXT PRIMARY KEY,
    dwelling_id BIGINT NOT NULL REFERENCES dwellings (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    used_by BIGINT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX invitation_codes_dwelling ON invitation_codes (dwelling_id);

CREATE TABLE resident_dwellings (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    dwelling_id BIGINT NOT NULL REFERENCES dwellings (id) ON DELETE CASCADE,
    standing TEXT NOT NULL,
    bound_at TEXT NOT NULL,
    PRIMARY KEY (user_id, dwelling_id)
);
CREATE INDEX resident_dwellings_dwelling ON resident_dwellings (dwelling_id);

CREATE TABLE notices (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    round BIGINT NOT NULL,
    scheme_version BIGINT,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    working_days BIGINT NOT NULL,
    posted_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX notices_estate ON notices (estate_id);

CREATE TABLE notice_comments (
    id {ID},
    notice_id BIGINT NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    author TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    at TEXT NOT NULL,
    answer TEXT,
    answered_by TEXT,
    answered_at TEXT
);
CREATE INDEX notice_comments_notice ON notice_comments (notice_id);

CREATE TABLE decision_rules (
    region_code TEXT PRIMARY KEY REFERENCES regions (code),
    rules_json TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE decisions (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    matter TEXT NOT NULL,
    scope_kind TEXT NOT NULL,
    building_id BIGINT REFERENCES buildings (id),
    stairwell BIGINT,
    opens_at TEXT NOT NULL,
    closes_at TEXT NOT NULL,
    on_scheme BOOLEAN NOT NULL DEFAULT FALSE,
    rules_json TEXT NOT NULL,
    ballot_count BIGINT NOT NULL DEFAULT 0,
    head_hash TEXT NOT NULL,
    closed_at TEXT,
    result_json TEXT,
    passed BOOLEAN,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX decisions_estate ON decisions (estate_id);

CREATE TABLE decision_electors (
    decision_id BIGINT NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
    dwelling_id BIGINT NOT NULL,
    area BIGINT NOT NULL,
    owner_key TEXT NOT NULL,
    PRIMARY KEY (decision_id, dwelling_id)
);

CREATE TABLE ballots (
    decision_id BIGINT NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    dwelling_id BIGINT NOT NULL,
    choice TEXT NOT NULL,
    channel TEXT NOT NULL,
    voter TEXT NOT NULL,
    proxy_document_id BIGINT REFERENCES documents (id),
    owner_key TEXT NOT NULL,
    cast_by TEXT NOT NULL,
    at TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (decision_id, seq),
    UNIQUE (decision_id, dwelling_id)
);
CREATE INDEX ballots_owner ON ballots (decision_id, owner_key);
"#;

/// Site logs (施工日志) by party, material entry records (材料进场), and what a document is evidence of:
/// a site log's photos, a rectification task's evidence, an assessment finding's photos.
const V13: &str = r#"
CREATE TABLE site_logs (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    author TEXT NOT NULL,
    day TEXT NOT NULL,
    weather TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    written_by TEXT NOT NULL,
    written_at TEXT NOT NULL
);
CREATE INDEX site_logs_estate ON site_logs (estate_id, day);
CREATE TABLE material_entries (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    material TEXT NOT NULL,
    spec TEXT NOT NULL DEFAULT '',
    quantity_hundredths BIGINT NOT NULL,
    unit TEXT NOT NULL,
    supplier TEXT NOT NULL,
    certificate BOOLEAN NOT NULL,
    accepted BOOLEAN NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_on TEXT NOT NULL
);
CREATE INDEX material_entries_estate ON material_entries (estate_id, id);
ALTER TABLE documents ADD COLUMN site_log_id BIGINT REFERENCES site_logs (id) ON DELETE CASCADE;
ALTER TABLE documents ADD COLUMN rectification_id BIGINT REFERENCES rectifications (id) ON DELETE CASCADE;
ALTER TABLE documents ADD COLUMN building_id BIGINT REFERENCES buildings (id) ON DELETE SET NULL;
ALTER TABLE documents ADD COLUMN item_code TEXT;
"#;

/// "What is late" finds each kind by a partial index on its open rows.
const V12: &str = r#"
CREATE INDEX schedule_nodes_unstarted ON schedule_nodes (planned_start, estate_id) WHERE actual_start IS NULL;
CREATE INDEX rectifications_open ON rectifications (deadline, estate_id) WHERE closed_at IS NULL;
"#;

/// Construction: schedule nodes planned against actual with their progress, inspections at the
/// five checkpoints, design changes with their due day.
const V11: &str = r#"
CREATE TABLE schedule_nodes (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    building_id BIGINT REFERENCES buildings (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    weight BIGINT NOT NULL DEFAULT 1,
    planned_start TEXT NOT NULL,
    planned_end TEXT NOT NULL,
    actual_start TEXT,
    actual_end TEXT,
    progress_pct BIGINT NOT NULL DEFAULT 0,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX schedule_nodes_estate ON schedule_nodes (estate_id, planned_start);
CREATE INDEX schedule_nodes_open ON schedule_nodes (planned_end, estate_id) WHERE actual_end IS NULL;
CREATE TABLE inspections (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    checkpoint TEXT NOT NULL,
    held_on TEXT NOT NULL,
    inspector TEXT NOT NULL,
    passed BOOLEAN NOT NULL,
    findings TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX inspections_estate ON inspections (estate_id, id);
CREATE TABLE design_changes (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    requested_by TEXT NOT NULL,
    requested_on TEXT NOT NULL,
    reason TEXT NOT NULL,
    due_on TEXT NOT NULL,
    delivered_by TEXT,
    delivered_on TEXT,
    answer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX design_changes_estate ON design_changes (estate_id, id);
CREATE INDEX design_changes_open ON design_changes (due_on, estate_id) WHERE delivered_on IS NULL;
"#;

/// The archive (一小区一档案): documents filed per estate and section; file contents kept once per
/// SHA-256 in the database, so that a backup holds them and both engines store them alike.
const V10: &str = r#"
CREATE TABLE files (
    sha256 TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    content {BLOB} NOT NULL
);
CREATE TABLE documents (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    section TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES files (sha256),
    uploaded_by TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);
CREATE INDEX documents_estate ON documents (estate_id, section, id);
"#;

/// The review (one per estate) and rectification tasks.
const V9: &str = r#"
CREATE TABLE reviews (
    id {ID},
    estate_id BIGINT NOT NULL UNIQUE REFERENCES estates (id) ON DELETE CASCADE,
    held_on TEXT NOT NULL,
    held_by TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT ''
);
CREATE TABLE rectifications (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    finding TEXT NOT NULL,
    owner TEXT NOT NULL,
    deadline TEXT NOT NULL,
    supervised BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    closed_by TEXT,
    closed_at TEXT,
    closing_note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rectifications_estate ON rectifications (estate_id, id);
"#;

/// Acceptance: one per estate, the parties required (comma-separated codes), and each account's signature.
const V8: &str = r#"
CREATE TABLE acceptances (
    id {ID},
    estate_id BIGINT NOT NULL UNIQUE REFERENCES estates (id) ON DELETE CASCADE,
    required TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_at TEXT NOT NULL
);
CREATE TABLE acceptance_signatures (
    id {ID},
    acceptance_id BIGINT NOT NULL REFERENCES acceptances (id) ON DELETE CASCADE,
    signatory TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    username TEXT NOT NULL,
    agree BOOLEAN NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    signed_at TEXT NOT NULL,
    UNIQUE (acceptance_id, signatory, user_id)
);
"#;

/// The menu as each region changes it (the national menu is in the code), and schemes: version 0
/// of an estate is its working draft, versions 1, 2, … the ones issued for notice and as final.
const V7: &str = r#"
CREATE TABLE menu_items (
    id {ID},
    region_code TEXT NOT NULL REFERENCES regions (code),
    code TEXT NOT NULL,
    category TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    unit_price_fen BIGINT NOT NULL,
    payer TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (region_code, code)
);
CREATE TABLE scheme_versions (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    version_no BIGINT NOT NULL,
    stage TEXT NOT NULL,
    total_fen BIGINT NOT NULL DEFAULT 0,
    items BIGINT NOT NULL DEFAULT 0,
    saved_by TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    UNIQUE (estate_id, version_no)
);
CREATE TABLE scheme_items (
    id {ID},
    version_id BIGINT NOT NULL REFERENCES scheme_versions (id) ON DELETE CASCADE,
    menu_code TEXT NOT NULL,
    category TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    building_id BIGINT REFERENCES buildings (id),
    quantity_hundredths BIGINT NOT NULL,
    unit_price_fen BIGINT NOT NULL,
    payer TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX scheme_items_version ON scheme_items (version_id, id);
"#;

/// Projects: estates renovated together, and the companies (with their accounts) that do the work.
const V6: &str = r#"
CREATE TABLE projects (
    id {ID},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions (code),
    status TEXT NOT NULL DEFAULT 'active',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX projects_region ON projects (region_code, id);
CREATE TABLE project_estates (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, estate_id)
);
CREATE INDEX project_estates_estate ON project_estates (estate_id);
CREATE TABLE project_parties (
    id {ID},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    company TEXT NOT NULL,
    contact TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    user_id BIGINT REFERENCES users (id)
);
CREATE INDEX project_parties_project ON project_parties (project_id);
CREATE INDEX project_parties_user ON project_parties (user_id);
CREATE TABLE approval_steps (
    id {ID},
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    limit_days BIGINT NOT NULL,
    after_codes TEXT NOT NULL DEFAULT '',
    started_on TEXT,
    due_on TEXT,
    done_on TEXT,
    UNIQUE (project_id, code)
);
CREATE INDEX approval_steps_due ON approval_steps (due_on, project_id) WHERE done_on IS NULL;
CREATE INDEX approval_steps_open ON approval_steps (project_id, due_on) WHERE done_on IS NULL;
"#;

/// Assessments with their findings, regional changes to the checklist, saved rankings, annual plans, and every step of an estate's life.
const V5: &str = r#"
CREATE TABLE checklist_items (
    id {ID},
    region_code TEXT NOT NULL REFERENCES regions (code),
    code TEXT NOT NULL,
    level TEXT NOT NULL,
    label_zh TEXT NOT NULL,
    label_en TEXT NOT NULL DEFAULT '',
    weight BIGINT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (region_code, code)
);
CREATE TABLE assessments (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    score BIGINT,
    breakdown TEXT,
    assessed_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX assessments_estate ON assessments (estate_id, id);
CREATE TABLE assessment_findings (
    id {ID},
    assessment_id BIGINT NOT NULL REFERENCES assessments (id) ON DELETE CASCADE,
    item TEXT NOT NULL,
    building_id BIGINT REFERENCES buildings (id) ON DELETE CASCADE,
    present BOOLEAN NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX assessment_findings_assessment ON assessment_findings (assessment_id);
CREATE TABLE estate_events (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    user_id BIGINT,
    username TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX estate_events_estate ON estate_events (estate_id, id);
CREATE TABLE rankings (
    id {ID},
    region_code TEXT NOT NULL REFERENCES regions (code),
    year BIGINT NOT NULL,
    weights TEXT NOT NULL,
    candidates BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX rankings_region ON rankings (region_code, id);
CREATE TABLE ranking_entries (
    ranking_id BIGINT NOT NULL REFERENCES rankings (id) ON DELETE CASCADE,
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    factors TEXT NOT NULL,
    PRIMARY KEY (ranking_id, estate_id)
);
CREATE INDEX ranking_entries_estate ON ranking_entries (estate_id);
CREATE TABLE annual_plans (
    id {ID},
    region_code TEXT NOT NULL REFERENCES regions (code),
    year BIGINT NOT NULL,
    target_estates BIGINT NOT NULL,
    target_households BIGINT NOT NULL,
    target_buildings BIGINT NOT NULL,
    target_floor_area BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (region_code, year)
);
CREATE TABLE plan_estates (
    plan_id BIGINT NOT NULL REFERENCES annual_plans (id) ON DELETE CASCADE,
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    year BIGINT NOT NULL,
    carried_over BOOLEAN NOT NULL DEFAULT FALSE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (plan_id, estate_id),
    UNIQUE (estate_id, year)
);
"#;

/// Lists sorted by name walk the first index instead of sorting every match; a region's list
/// sorted by build year reads the second alone (PostgreSQL otherwise walks the whole country's
/// build-year index and filters by region).
const V4: &str = "CREATE INDEX estates_name_id ON estates (name, id); \
    CREATE INDEX estates_community_year_id ON estates (community_code, build_year, id)";

/// Paging sorted by build year breaks ties by id; PostgreSQL needs the id in the index to walk it in order.
const V3: &str = "DROP INDEX estates_build_year; CREATE INDEX estates_build_year_id ON estates (build_year, id)";

/// Totals over a region are read from this index alone, without touching the wide estate rows.
const V2: &str = "CREATE INDEX estates_totals ON estates (community_code, build_year, status, households, building_count, floor_area)";

const V1: &str = r#"
CREATE TABLE regions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_code TEXT,
    level BIGINT NOT NULL
);
CREATE INDEX regions_parent ON regions (parent_code);

CREATE TABLE users (
    id {ID},
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions (code),
    phone TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE estates (
    id {ID},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    community_code TEXT NOT NULL REFERENCES regions (code),
    lon DOUBLE PRECISION,
    lat DOUBLE PRECISION,
    outline TEXT,
    build_year BIGINT NOT NULL,
    building_count BIGINT NOT NULL DEFAULT 0,
    households BIGINT NOT NULL DEFAULT 0,
    floor_area BIGINT NOT NULL DEFAULT 0,
    ownership_type TEXT NOT NULL DEFAULT '',
    management_status TEXT NOT NULL DEFAULT 'none',
    has_owners_committee BOOLEAN NOT NULL DEFAULT FALSE,
    person_in_charge TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'surveyed',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX estates_community ON estates (community_code, id);
CREATE INDEX estates_build_year ON estates (build_year);
CREATE INDEX estates_status ON estates (status);

CREATE TABLE user_estates (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, estate_id)
);

CREATE TABLE buildings (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    floors BIGINT NOT NULL,
    stairwells BIGINT NOT NULL DEFAULT 1,
    has_lift BOOLEAN NOT NULL DEFAULT FALSE,
    structure TEXT NOT NULL DEFAULT 'other',
    build_year BIGINT,
    UNIQUE (estate_id, number)
);

CREATE TABLE dwellings (
    id {ID},
    estate_id BIGINT NOT NULL REFERENCES estates (id) ON DELETE CASCADE,
    building_id BIGINT NOT NULL REFERENCES buildings (id) ON DELETE CASCADE,
    stairwell BIGINT NOT NULL DEFAULT 1,
    floor BIGINT NOT NULL,
    number TEXT NOT NULL,
    exclusive_area BIGINT NOT NULL,
    occupancy TEXT NOT NULL DEFAULT 'owner',
    residents_60_plus BIGINT NOT NULL DEFAULT 0,
    UNIQUE (building_id, number)
);
CREATE INDEX dwellings_estate ON dwellings (estate_id);

CREATE TABLE dwelling_owners (
    id {ID},
    dwelling_id BIGINT NOT NULL REFERENCES dwellings (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    share_bp BIGINT NOT NULL
);
CREATE INDEX dwelling_owners_dwelling ON dwelling_owners (dwelling_id);

CREATE TABLE audit_log (
    id {ID},
    at TEXT NOT NULL,
    user_id BIGINT,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    region_code TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    request_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX audit_log_region ON audit_log (region_code);
"#;

/// A migration's text for `engine` (its id and blob column types).
pub(crate) fn dialect(engine: Engine, sql: &str) -> String {
    let id = match engine {
        Engine::Sqlite => "INTEGER PRIMARY KEY",
        Engine::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    };
    let blob = match engine {
        Engine::Sqlite => "BLOB",
        Engine::Postgres => "BYTEA",
    };
    let by_hour = match engine {
        Engine::Sqlite => "WITHOUT ROWID",
        Engine::Postgres => "PARTITION BY RANGE (hour)",
    };
    sql.replace("{ID}", id).replace("{BLOB}", blob).replace("{BY_HOUR}", by_hour)
}

/// Applies the migrations not yet applied, each in its own transaction; returns how many ran.
pub async fn migrate(db: &Db) -> Result<usize, StoreError> {
    let mut tx: Tx = db.begin().await?;
    Db::raw_batch(
        &mut tx,
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .await?;
    tx.commit().await?;
    let mut ran = 0;
    for (version, name, sql) in MIGRATIONS {
        let mut tx = db.begin().await?;
        let done = tx.scalar("SELECT COUNT(*) FROM schema_migrations WHERE version = $1", crate::args![*version]).await?;
        if done > 0 {
            continue;
        }
        let ddl = dialect(tx.engine(), sql);
        Db::raw_batch(&mut tx, &ddl).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            crate::args![*version, *name, crate::now()],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "migration applied");
        ran += 1;
        // Before 39 a city without counties counted its estates twice in its own total (and
        // PostgreSQL refused the write): such totals disagree with their parts and are rebuilt.
        if *version == 36 || (*version == 39 && !db.statistics_disagreements().await?.is_empty()) {
            db.rebuild_statistics().await?;
        }
        if *version == 42 {
            db.rebuild_funds_paid().await?;
        }
        if *version == 44 {
            db.map_old_request_categories().await?;
        }
        // Readings always have a partition to go to, before the upkeep makes the days'.
        if *version == 52 && db.engine() == Engine::Postgres {
            db.execute("CREATE TABLE IF NOT EXISTS telemetry_default PARTITION OF telemetry DEFAULT", vec![]).await?;
        }
    }
    Ok(ran)
}

impl Db {
    /// Brings the schema up to date (see [`migrate`]).
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        migrate(self).await
    }

    /// Sums the year and programme totals ("2025-00", "0000") from the month and plan-year totals,
    /// as migration 39 did for the totals kept before it; for totals that have none.
    pub async fn roll_up_statistics(&self) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let ddl = dialect(tx.engine(), V39);
        Db::raw_batch(&mut tx, &ddl).await?;
        tx.commit().await
    }
}
