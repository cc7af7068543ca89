# A 20-rule policy for the decision benchmark (bench_test.go): 4 allow
# paths and 16 deny rules, a realistic mix of set membership, startswith,
# glob and regex with constant patterns, header lookups and `not deny`.
package sluice.egress

default allow := false

# --- allow: 4 rules --------------------------------------------------------

allow if {
	not deny
	permitted
}

permitted if input.destination.service_entry.namespace in data.bench.open_namespaces

permitted if caller_namespace == input.destination.service_entry.namespace

permitted if input.destination.service_entry.labels["data-class"] == "public"

permitted if startswith(input.source.identity, "spiffe://cluster.local/ns/platform/")

# --- deny: 16 rules --------------------------------------------------------

deny if input.request.method in {"DELETE", "TRACE", "PATCH"}

deny if regex.match(`^/(admin|internal|debug)(/|$)`, input.request.path)

deny if glob.match("*.evil.example", ["."], input.destination.host)

deny if input.destination.host in data.bench.blocked_hosts

deny if {
	some prefix in data.bench.blocked_path_prefixes
	startswith(input.request.path, prefix)
}

deny if input.request.headers["x-debug-override"]

deny if count(input.request.headers.authorization) > 1

deny if {
	some ct in input.request.headers["content-type"]
	not mime_allowed(ct)
}

deny if contains(input.request.path, "..")

deny if endswith(input.destination.host, ".onion")

deny if input.destination.port in {22, 23, 3389}

deny if {
	input.destination.service_entry.labels["data-class"] == "pci"
	not caller_namespace == "payments"
}

deny if {
	input.request.kind == "connect"
	input.destination.service_entry.protocol == "HTTP"
}

deny if input.source.identity_source == "none"

deny if {
	input.request.sni != ""
	lower(input.request.sni) != lower(input.destination.host)
}

deny if regex.match(`(?i)(union\s+select|<script)`, input.request.path)

# --- reasons ---------------------------------------------------------------

reasons contains "not permitted for this caller" if not permitted

reasons contains "denied by a deny rule" if deny

# --- helpers ---------------------------------------------------------------

caller_namespace := ns if {
	parts := split(input.source.identity, "/")
	parts[3] == "ns"
	ns := parts[4]
}

mime_allowed(ct) if startswith(ct, "application/json")

mime_allowed(ct) if startswith(ct, "text/plain")
