-- The PostgreSQL audit store as the store code of schema version 1 created
-- it (commit 943f5b2, before the record schema became one column table),
-- and records as that code wrote them: a call ended, a call left open, a
-- folded DNS denial. TestMigrationAddsColumns creates it in a fresh
-- database and opens it with later code. Never change it.
CREATE TABLE IF NOT EXISTS sluice_audit_meta (
	key   text   PRIMARY KEY,
	value bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
	rid             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id              text             NOT NULL,
	seq             bigint           NOT NULL,
	gateway         text             NOT NULL,
	time_start      timestamptz      NOT NULL,
	time_end        timestamptz,
	duration_ms     double precision NOT NULL,
	event           text             NOT NULL,
	source_identity text             NOT NULL,
	identity_source text             NOT NULL,
	source_ip       text             NOT NULL,
	source_workload text             NOT NULL,
	listener        text             NOT NULL,
	kind            text             NOT NULL,
	method          text             NOT NULL,
	host            text             NOT NULL,
	port            integer          NOT NULL,
	path            text             NOT NULL,
	sni             text             NOT NULL,
	service_entry   text             NOT NULL,
	dialed_ip       text             NOT NULL,
	tls_originated  boolean          NOT NULL,
	tls_version     text             NOT NULL,
	decision        text             NOT NULL,
	enforced        boolean          NOT NULL,
	reason          text             NOT NULL,
	policy_rules    jsonb            NOT NULL,
	status          integer          NOT NULL,
	error           text             NOT NULL,
	bytes_sent      bigint           NOT NULL,
	bytes_received  bigint           NOT NULL,
	meter           text             NOT NULL,
	cost            double precision NOT NULL,
	currency        text             NOT NULL,
	trace_id        text             NOT NULL,
	count           integer          NOT NULL
) WITH (fillfactor = 90);
CREATE TABLE IF NOT EXISTS open_calls (
	rid     bigint PRIMARY KEY,
	gateway text   NOT NULL
);
CREATE TABLE IF NOT EXISTS gateways (
	gateway text   PRIMARY KEY,
	seq     bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS probe (
	k integer     PRIMARY KEY,
	t timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS cost_hourly (
	hour        timestamptz      NOT NULL,
	source      text             NOT NULL,
	destination text             NOT NULL,
	meter       text             NOT NULL,
	currency    text             NOT NULL,
	calls       bigint           NOT NULL,
	bytes       bigint           NOT NULL,
	cost        double precision NOT NULL,
	PRIMARY KEY (hour, source, destination, meter, currency)
);
CREATE UNIQUE INDEX IF NOT EXISTS decisions_id ON decisions (id);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_host_time ON decisions (host, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_identity_time ON decisions (source_identity, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_workload_time ON decisions (source_workload, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_ip_time ON decisions (source_ip, time_start, rid);
CREATE INDEX IF NOT EXISTS decisions_denied_time ON decisions (time_start, rid) WHERE decision = 'deny';
CREATE OR REPLACE VIEW records AS SELECT 
	id, seq, gateway, time_start, time_end, duration_ms, event,
	source_identity, identity_source, source_ip, source_workload,
	listener, kind, method, host, port, path, sni, service_entry,
	dialed_ip, tls_originated, tls_version,
	decision, enforced, reason, policy_rules,
	status, error, bytes_sent, bytes_received, meter, cost, currency, trace_id,
	count, rid
FROM decisions;

INSERT INTO sluice_audit_meta (key, value) VALUES ('schema_version', 1);
INSERT INTO decisions (id, seq, gateway, time_start, time_end, duration_ms, event, source_identity, identity_source,
	source_ip, source_workload, listener, kind, method, host, port, path, sni, service_entry, dialed_ip,
	tls_originated, tls_version, decision, enforced, reason, policy_rules, status, error, bytes_sent, bytes_received,
	meter, cost, currency, trace_id, count) VALUES
('01FIXTURE0000000000000000A', 1, 'gw-a', '2026-11-21T12:00:00.123456Z', '2026-11-21T12:00:00.165Z', 41.544, 'outbound_call',
	'spiffe://cluster.local/ns/shop/sa/checkout', 'mtls', '10.1.2.3', 'checkout', 'proxy', 'http', 'POST', 'api.stripe.com', 443,
	'/v1/charges', 'api.stripe.com', 'payments/stripe', '192.0.2.1', true, 'TLS1.3', 'allow', true, '', '["allow_payments"]',
	200, '', 1234, 5678, 'charge', 0.002, 'USD', '4bf92f3577b34da6a3ce929d0e0e4736', 1),
('01FIXTURE0000000000000000B', 2, 'gw-a', '2026-11-21T12:00:01.123Z', NULL, 0, 'outbound_call',
	'spiffe://cluster.local/ns/shop/sa/checkout', 'mtls', '10.1.2.3', 'checkout', 'proxy', 'connect', 'CONNECT', 'api.github.com', 443,
	'', '', 'payments/stripe', '', false, '', 'allow', true, '', '["allow_payments"]',
	0, '', 0, 0, '', 0, '', '', 1),
('01FIXTURE0000000000000000D', 3, 'gw-a', '2026-11-21T12:00:03.123Z', '2026-11-21T12:00:13.123Z', 10000, 'dns_query',
	'', 'none', '10.9.9.9', '', 'dns', 'dns', 'A', 'evil.example', 0,
	'', '', '', '', false, '', 'deny', true, 'undeclared_destination', '[]',
	0, '', 0, 0, '', 0, '', '', 5);
INSERT INTO open_calls (rid, gateway) SELECT rid, gateway FROM decisions WHERE time_end IS NULL;
INSERT INTO gateways (gateway, seq) VALUES ('gw-a', 3);
