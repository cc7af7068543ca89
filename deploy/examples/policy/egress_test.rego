# Unit tests of egress.rego: `sluice policy test deploy/examples/policy`
# or `opa test deploy/examples/policy`.
package sluice.egress_test

import data.sluice.egress

# ---------------------------------------------------------------------------
# Inputs, shaped like the ones Sluice builds (policy/README.md).

payments_api := {
	"host": "api.payments.example", "port": 80,
	"service_entry": {"name": "payments-api", "namespace": "payments", "protocol": "HTTP", "labels": {"data-class": "pci"}, "annotations": {}},
}

crm := {
	"host": "acme.crm-saas.example", "port": 443,
	"service_entry": {"name": "saas-crm", "namespace": "sales", "protocol": "HTTPS", "labels": {}, "annotations": {}},
}

inventory := {
	"host": "inventory.corp.example", "port": 80,
	"service_entry": {"name": "inventory", "namespace": "ops", "protocol": "HTTP", "labels": {}, "annotations": {}},
}

ledger := {
	"host": "ledger.partner.example", "port": 80,
	"service_entry": {"name": "partner-ledger", "namespace": "finance", "protocol": "HTTP", "labels": {}, "annotations": {}},
}

checkout := {"identity": "spiffe://cluster.local/ns/payments/sa/checkout", "identity_source": "mtls", "ip": "10.1.2.3", "workload": "checkout"}

reporting := {"identity": "spiffe://cluster.local/ns/analytics/sa/reporting", "identity_source": "mtls", "ip": "10.1.9.9", "workload": "reporting"}

# Known only by its address range (identity.sources): no SPIFFE identity.
batch := {"identity": "", "identity_source": "cidr", "ip": "10.2.0.7", "workload": "batch"}

anonymous := {"identity": "", "identity_source": "none", "ip": "10.9.9.9", "workload": ""}

get(path) := {"kind": "http", "method": "GET", "path": path, "headers": {}, "sni": "", "tls_origination": true}

post(path) := {"kind": "http", "method": "POST", "path": path, "headers": {"content-type": ["application/json"]}, "sni": "", "tls_origination": true}

tunnel(host) := {"kind": "connect", "method": "", "path": "", "headers": {}, "sni": host, "tls_origination": false}

call(source, destination, request) := {"source": source, "destination": destination, "request": request, "time": "2026-11-21T12:00:00Z"}

# ---------------------------------------------------------------------------
# 1. The payment API is for the payments namespace.

test_payments_namespace_may_call_payment_api if {
	egress.allow with input as call(checkout, payments_api, post("/v1/charges"))
}

test_other_namespace_may_not_call_payment_api if {
	not egress.allow with input as call(reporting, payments_api, get("/v1/charges"))
	egress.reasons == {"payments-api is reserved to workloads of the payments namespace"} with input as call(reporting, payments_api, get("/v1/charges"))
}

test_workload_without_identity_may_not_call_payment_api if {
	not egress.allow with input as call(batch, payments_api, get("/v1/charges"))
}

test_anonymous_caller_may_not_call_payment_api if {
	not egress.allow with input as call(anonymous, payments_api, get("/v1/charges"))
}

test_foreign_trust_domain_may_not_call_payment_api if {
	impostor := object.union(checkout, {"identity": "spiffe://evil.example/ns/payments/sa/checkout"})
	not egress.allow with input as call(impostor, payments_api, get("/v1/charges"))
}

test_payment_api_tunnel_needs_payments_namespace if {
	api_tls := object.union(payments_api, {"port": 443})
	egress.allow with input as call(checkout, api_tls, tunnel("api.payments.example"))
	not egress.allow with input as call(reporting, api_tls, tunnel("api.payments.example"))
}

# ---------------------------------------------------------------------------
# 2. The CRM SaaS is read-only.

test_crm_get_and_head_allowed if {
	egress.allow with input as call(reporting, crm, get("/api/accounts"))
	head := object.union(get("/api/accounts"), {"method": "HEAD"})
	egress.allow with input as call(anonymous, crm, head)
}

test_crm_post_denied if {
	not egress.allow with input as call(reporting, crm, post("/api/accounts"))
	egress.reasons == {"acme.crm-saas.example is read-only: method POST is not allowed"} with input as call(reporting, crm, post("/api/accounts"))
}

test_crm_tunnel_denied if {
	not egress.allow with input as call(reporting, crm, tunnel("acme.crm-saas.example"))
}

test_crm_wildcard_does_not_cover_the_bare_domain if {
	bare := object.union(inventory, {"host": "crm-saas.example"})
	egress.allow with input as call(reporting, bare, post("/"))
}

# ---------------------------------------------------------------------------
# 3. The path blocklist (data.yaml).

test_blocked_paths_denied_everywhere if {
	not egress.allow with input as call(checkout, payments_api, get("/admin"))
	not egress.allow with input as call(reporting, inventory, get("/internal/metrics"))
	not egress.allow with input as call(reporting, inventory, get("/Admin/users"))
	egress.reasons == {"path /internal/metrics is blocked (/internal)"} with input as call(reporting, inventory, get("/internal/metrics"))
}

test_paths_that_only_share_a_prefix_are_allowed if {
	egress.allow with input as call(reporting, inventory, get("/administrators"))
	egress.allow with input as call(reporting, inventory, get("/internals"))
}

test_blocklist_comes_from_data if {
	not egress.allow with input as call(reporting, inventory, get("/debug")) with data.blocklist.path_prefixes as ["/debug"]
	egress.allow with input as call(reporting, inventory, get("/admin")) with data.blocklist.path_prefixes as ["/debug"]
}

test_reasons_accumulate if {
	egress.reasons == {
		"payments-api is reserved to workloads of the payments namespace",
		"path /admin is blocked (/admin)",
	} with input as call(reporting, payments_api, get("/admin"))
}

# ---------------------------------------------------------------------------
# Everything else the registry declares is allowed.

test_other_destinations_allowed if {
	egress.allow with input as call(reporting, inventory, post("/v1/stock"))
	egress.allow with input as call(anonymous, ledger, get("/entries"))
	egress.allow with input as call(batch, ledger, tunnel("ledger.partner.example"))
	count(egress.reasons) == 0 with input as call(reporting, inventory, post("/v1/stock"))
}

test_undeclared_destination_allowed_in_registry_report_mode if {
	undeclared := {"host": "example.org", "port": 443, "service_entry": null}
	egress.allow with input as call(anonymous, undeclared, get("/"))
}
