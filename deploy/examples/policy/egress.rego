# Sluice egress policy: an example to copy.
#
# Sluice asks two questions for every call the registry declares:
#   data.sluice.egress.allow    boolean; false (or an error) denies the call
#   data.sluice.egress.reasons  set of strings; recorded in the audit log and
#                               sent back in the 403 so callers know why
# The input document is described in policy/README.md. Calls to declared
# destinations that no rule below mentions are allowed: the registry
# (deploy/examples/registry) is the list of what may be called at all, and
# this policy narrows it.
#
# Test with `sluice policy test deploy/examples/policy` or, unchanged, with
# `opa test deploy/examples/policy`.
package sluice.egress

default allow := false

# A call is allowed when no rule gives a reason to deny it.
allow if count(reasons) == 0

# ---------------------------------------------------------------------------
# 1. The payment API (ServiceEntry payments/payments-api, api.payments.example)
#    may be called only by workloads of the payments namespace.

reasons contains "payments-api is reserved to workloads of the payments namespace" if {
	destination_is("payments", "payments-api")
	not caller_namespace == "payments"
}

# ---------------------------------------------------------------------------
# 2. The CRM SaaS (every tenant of *.crm-saas.example) is read-only: GET and
#    HEAD. Inside a CONNECT or TLS tunnel Sluice cannot see the method, so a
#    tunnel is refused too: call it over plain HTTP and let Sluice originate
#    TLS (a DestinationRule with tls.mode SIMPLE on an HTTP port).

read_only_methods := {"GET", "HEAD"}

reasons contains sprintf("%s is read-only: method %s is not allowed", [input.destination.host, input.request.method]) if {
	crm_saas
	input.request.kind == "http"
	not input.request.method in read_only_methods
}

reasons contains sprintf("%s is read-only and a %s tunnel hides the method: send plain HTTP and let Sluice originate TLS", [input.destination.host, input.request.kind]) if {
	crm_saas
	input.request.kind != "http"
}

# Every tenant: acme.crm-saas.example, eu.acme.crm-saas.example, ... (as the
# registry's wildcard host *.crm-saas.example), not crm-saas.example itself.
crm_saas if endswith(input.destination.host, ".crm-saas.example")

# ---------------------------------------------------------------------------
# 3. Paths on the blocklist (data.yaml: blocklist.path_prefixes) are denied
#    on every destination. A prefix matches the path itself and everything
#    below it: /admin blocks /admin and /admin/users, not /administrators.
#    Only HTTP requests have a path; tunnels are not affected.

reasons contains sprintf("path %s is blocked (%s)", [input.request.path, prefix]) if {
	input.request.kind == "http"
	path := lower(input.request.path)
	some prefix in data.blocklist.path_prefixes
	under(path, prefix)
}

under(path, prefix) if path == prefix

under(path, prefix) if startswith(path, concat("", [prefix, "/"]))

# ---------------------------------------------------------------------------
# Helpers.

# destination_is holds when the call goes to the ServiceEntry namespace/name.
# It never holds for an undeclared destination (service_entry is null).
destination_is(namespace, name) if {
	input.destination.service_entry.namespace == namespace
	input.destination.service_entry.name == name
}

# caller_namespace is the Kubernetes namespace of the caller's SPIFFE
# identity (spiffe://<trust domain>/ns/<namespace>/sa/<service account>),
# for the trust domains of data.yaml only. It is undefined for callers known
# only by a workload name (identity.sources) or not identified at all.
caller_namespace := ns if {
	["spiffe:", "", domain, "ns", ns, "sa", _] = split(input.source.identity, "/")
	domain in data.identity.trust_domains
}
