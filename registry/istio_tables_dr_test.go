package registry

import (
	"testing"
)

// The DestinationRule tables of istio/istio at 86c9f01 that
// validate_traffic_test.go does not port: the TLS cases of
// TestValidateDestinationRule (validation_test.go, 15 cases),
// Test_validateExportTo (validation_test.go, 17), and from
// pkg/config/validation/agent/validation_test.go TestValidateTLS (12),
// TestValidateLocalityLbSetting (13), TestValidateZoneAwareLbSetting (15)
// and TestValidateLocalities (9). Each case is YAML read by Parse and
// Build, with the findings Istio gives. Istio calls the agent functions
// on one value; here the value sits in a DestinationRule for "reviews"
// (which no ServiceEntry declares, so that Sluice loads no certificate:
// "cert", "key" and "test" are not files), its localities in a
// distribute list, its exportTo lists on a resource in namespace ns5.
// Test_validateExportTo's cases without a kind are run on a
// DestinationRule; its "service entry" ones on a ServiceEntry.
//
// Not ported: the cases of TestValidateTLS and the agent tables that
// take a nil setting are rules without the field (ported as such).

// tlsDR is a DestinationRule for reviews with the given tls settings.
func tlsDR(tls string) string { return drDoc("  host: reviews\n  trafficPolicy: {tls: " + tls + "}\n") }

// lbDR is a DestinationRule for reviews with the given load balancer
// and outlier detection ("" for none).
func lbDR(lb, outlier string) string {
	tp := "{loadBalancer: " + lb
	if outlier != "" {
		tp += ", outlierDetection: " + outlier
	}
	return drDoc("  host: reviews\n  trafficPolicy: " + tp + "}\n")
}

// inNS5 is a resource of kind in namespace ns5 with spec.
func inNS5(kind, spec string) string {
	return "apiVersion: networking.istio.io/v1\nkind: " + kind + "\nmetadata: {name: x, namespace: ns5}\nspec:\n" + spec
}

// docCase is a whole document and every finding it must give.
type docCase struct {
	name  string
	doc   string
	errs  []string
	warns []string
}

func istioDestinationRuleTLSCases() []docCase {
	const f = "spec.trafficPolicy.tls"
	const simpleSkip = f + ".insecureSkipVerify: cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true"
	const mutualSkip = f + ".insecureSkipVerify: cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true"
	const credExcl = f + ".credentialName: cannot specify client certificates or CA certificate or CA CRL If credentialName is set"
	return []docCase{
		// TestValidateDestinationRule, TLS cases (Istio's names; two of
		// them say CaCertificates where the rule has CredentialName)
		{name: "InsecureSkipVerify is not specified with tls mode simple, and the ca cert is specified by CaCertificates",
			doc: tlsDR("{mode: SIMPLE, caCertificates: test, subjectAltNames: [reviews.default.svc]}")},
		{name: "InsecureSkipVerify is not specified with tls mode simple, and the ca cert is specified by CredentialName",
			doc: tlsDR("{mode: SIMPLE, credentialName: test, subjectAltNames: [reviews.default.svc]}")},
		{name: "InsecureSkipVerify is set false with tls mode simple, and the ca cert is specified by CaCertificates",
			doc: tlsDR("{mode: SIMPLE, caCertificates: test, subjectAltNames: [reviews.default.svc], insecureSkipVerify: false}")},
		{name: "InsecureSkipVerify is set false with tls mode simple, and the ca cert is specified by CredentialName",
			doc: tlsDR("{mode: SIMPLE, credentialName: test, subjectAltNames: [reviews.default.svc], insecureSkipVerify: false}")},
		{name: "InsecureSkipVerify is set true with tls mode simple, and the ca cert is specified by CaCertificates",
			doc: tlsDR("{mode: SIMPLE, credentialName: test, insecureSkipVerify: true}"), errs: []string{simpleSkip}},
		{name: "InsecureSkipVerify is set true with tls mode simple, and the ca cert is specified by CredentialName",
			doc: tlsDR("{mode: SIMPLE, caCertificates: test, insecureSkipVerify: true}"), errs: []string{simpleSkip}},
		{name: "InsecureSkipVerify is set true with tls mode simple, and the san is specified",
			doc: tlsDR("{mode: SIMPLE, subjectAltNames: [reviews.default.svc], insecureSkipVerify: true}"), errs: []string{simpleSkip}},
		{name: "InsecureSkipVerify is not specified with tls mode mutual, and the ca cert is specified by CaCertificates",
			doc: tlsDR("{mode: MUTUAL, caCertificates: test, privateKey: key, clientCertificate: cert, subjectAltNames: [reviews.default.svc]}")},
		{name: "InsecureSkipVerify is not specified with tls mode mutual, and the ca cert is specified by CredentialName",
			doc: tlsDR("{mode: MUTUAL, credentialName: test, subjectAltNames: [reviews.default.svc]}")},
		{name: "InsecureSkipVerify is set false with tls mode mutual, and the ca cert is specified by CaCertificates",
			doc: tlsDR("{mode: MUTUAL, caCertificates: test, privateKey: key, clientCertificate: cert, subjectAltNames: [reviews.default.svc], insecureSkipVerify: false}")},
		{name: "InsecureSkipVerify is set false with tls mode mutual, and the ca cert is specified by CredentialName",
			doc: tlsDR("{mode: MUTUAL, credentialName: test, subjectAltNames: [reviews.default.svc], insecureSkipVerify: false}")},
		{name: "InsecureSkipVerify is set true with tls mode mutual, and the ca cert is specified by CaCertificates",
			doc: tlsDR("{mode: MUTUAL, caCertificates: test, privateKey: key, clientCertificate: cert, insecureSkipVerify: true}"), errs: []string{mutualSkip}},
		{name: "InsecureSkipVerify is set true with tls mode mutual, and the ca cert is specified by CredentialName (Istio repeats the name above)",
			doc: tlsDR("{mode: MUTUAL, credentialName: test, insecureSkipVerify: true}")},
		{name: "InsecureSkipVerify is set true with tls mode mutual, and the ca cert is not specified",
			doc: tlsDR("{mode: MUTUAL, privateKey: key, clientCertificate: cert, insecureSkipVerify: true}")},
		{name: "InsecureSkipVerify is set true with tls mode mutual, and the san is specified",
			doc: tlsDR("{mode: MUTUAL, privateKey: key, clientCertificate: cert, subjectAltNames: [reviews.default.svc], insecureSkipVerify: true}"), errs: []string{mutualSkip}},

		// agent TestValidateTLS
		{name: "SIMPLE: Credential Name set correctly", doc: tlsDR("{mode: SIMPLE, credentialName: some credential, clientCertificate: '', privateKey: '', caCertificates: ''}")},
		{name: "SIMPLE CredentialName set with ClientCertificate specified", doc: tlsDR("{mode: SIMPLE, credentialName: credential, clientCertificate: cert}"), errs: []string{credExcl}},
		{name: "SIMPLE: CredentialName set with PrivateKey specified", doc: tlsDR("{mode: SIMPLE, credentialName: credential, privateKey: key}"), errs: []string{credExcl}},
		{name: "SIMPLE: CredentialName set with CACertficiates specified", doc: tlsDR("{mode: SIMPLE, credentialName: credential, caCertificates: ca}"), errs: []string{credExcl}},
		{name: "MUTUAL: Credential Name set correctly", doc: tlsDR("{mode: MUTUAL, credentialName: some credential, clientCertificate: '', privateKey: '', caCertificates: ''}")},
		{name: "MUTUAL CredentialName set with ClientCertificate specified", doc: tlsDR("{mode: MUTUAL, credentialName: credential, clientCertificate: cert}"), errs: []string{credExcl}},
		{name: "MUTUAL: CredentialName set with PrivateKey specified", doc: tlsDR("{mode: MUTUAL, credentialName: credential, privateKey: key}"), errs: []string{credExcl}},
		{name: "MUTUAL: CredentialName set with CACertficiates specified", doc: tlsDR("{mode: MUTUAL, credentialName: credential, caCertificates: ca}"), errs: []string{credExcl}},
		{name: "MUTUAL: CredentialName set with CACRL specified", doc: tlsDR("{mode: MUTUAL, credentialName: credential, caCrl: ca}"), errs: []string{credExcl}},
		{name: "MUTUAL: CredentialName not set with ClientCertificate and Key specified", doc: tlsDR("{mode: MUTUAL, clientCertificate: cert, privateKey: key}")},
		{name: "MUTUAL: CredentialName not set with ClientCertificate specified and Key missing", doc: tlsDR("{mode: MUTUAL, clientCertificate: cert, privateKey: ''}"),
			errs: []string{f + ".privateKey: private key required for mutual tls"}},
		{name: "MUTUAL: CredentialName not set with ClientCertificate missing and Key specified", doc: tlsDR("{mode: MUTUAL, clientCertificate: '', privateKey: key}"),
			errs: []string{f + ".clientCertificate: client certificate required for mutual tls"}},

		// ValidateTLS's configmap:// rule, which its table leaves out, and
		// the CRD's enum.
		{name: "configmap credential in the rule's namespace", doc: tlsDR("{mode: SIMPLE, credentialName: 'configmap://ns/ca'}")},
		{name: "configmap credential in another namespace", doc: tlsDR("{mode: SIMPLE, credentialName: 'configmap://other/ca'}"),
			errs: []string{f + `.credentialName: invalid configmap:// credentialName: namespace must match the configuration namespace "ns"`}},
		{name: "configmap credential without a namespace", doc: tlsDR("{mode: SIMPLE, credentialName: 'configmap://ca'}"),
			errs: []string{f + `.credentialName: invalid configmap:// credentialName: invalid resource name "configmap://ca". Expected namespace and name`}},
		{name: "lower-case tls mode refused, as the API server does", doc: tlsDR("{mode: simple}"),
			errs: []string{f + ".mode: unsupported tls mode simple (want DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)"}},
	}
}

func istioExportToCases() []docCase {
	dr := func(exportTo string) string {
		return inNS5("DestinationRule", "  host: reviews\n  exportTo: "+exportTo+"\n")
	}
	se := func(exportTo string) string {
		return inNS5("ServiceEntry", "  hosts: [a.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  exportTo: "+exportTo+"\n")
	}
	drSel := func(exportTo string) string {
		return inNS5("DestinationRule", "  host: reviews\n  workloadSelector: {matchLabels: {app: a}}\n  exportTo: "+exportTo+"\n")
	}
	return []docCase{
		{name: "empty exportTo is okay", doc: dr("[]")},
		{name: "* is allowed", doc: dr("['*']")},
		{name: ". and ns1 are allowed", doc: dr("[., ns1]")},
		{name: "bunch of namespaces in exportTo is okay", doc: dr("[ns1, ns2, ns5]")},
		{name: "~ is allowed for service entry configs", doc: se("['~']")},
		{name: "~ not allowed for non service entry configs", doc: dr("['~', ns1]"),
			errs: []string{"spec.exportTo[0]: exportTo ~ (none) is not allowed for Istio configuration objects"}},
		{name: ". and * together are not allowed", doc: dr("[., '*']"),
			errs: []string{"spec.exportTo: cannot have both public (*) and non-public exportTo values for a resource"}},
		{name: "* and ns1 together are not allowed", doc: dr("['*', ns1]"),
			errs: []string{"spec.exportTo: cannot have both public (*) and non-public exportTo values for a resource"}},
		{name: ". and same namespace in exportTo is not okay", doc: dr("[., ns5]"),
			errs: []string{"spec.exportTo[1]: duplicate entries in exportTo for entry ns5"}},
		{name: "duplicate namespaces in exportTo is not okay", doc: dr("[ns1, ns2, ns1]"),
			errs: []string{"spec.exportTo[2]: duplicate entries in exportTo for entry ns1"}},
		{name: "duplicate none in service entry exportTo is not okay", doc: se("['~', '~', ns1]"),
			errs: []string{"spec.exportTo[1]: duplicate entries in exportTo for entry ~", "spec.exportTo: cannot export service entry to no one (~) and someone"}},
		{name: "invalid namespace names are not okay", doc: dr("[ns1_]"),
			errs: []string{"spec.exportTo[0]: only .,*, or a valid DNS 1123 label is allowed as exportTo entry"}},
		{name: "none and other namespaces cannot be combined in service entry exportTo", doc: se("['~', ns1]"),
			errs: []string{"spec.exportTo: cannot export service entry to no one (~) and someone"}},
		{name: "destination rule with workloadselector cannot have exportTo (*)", doc: drSel("['*']"),
			errs: []string{"spec.exportTo: destination rule with workload selector cannot have exportTo beyond current namespace"}},
		{name: "destination rule with workloadselector can have only exportTo (.)", doc: drSel("[.]")},
		{name: "destination rule with workloadselector cannot have another ns in exportTo (.)", doc: drSel("[somens]"),
			errs: []string{"spec.exportTo: destination rule with workload selector cannot have exportTo beyond current namespace"}},
		{name: "destination rule with workloadselector cannot have another ns in addition to own ns in exportTo (.)", doc: drSel("[., somens]"),
			errs: []string{"spec.exportTo: destination rule with workload selector cannot have multiple entries in exportTo"}},
		// The "." written after the namespace it stands for.
		{name: "namespace then .", doc: dr("[ns5, .]"),
			errs: []string{"spec.exportTo[1]: duplicate entries in exportTo: . and current namespace ns5"}},
	}
}

func istioLocalityCases() []docCase {
	const f = "spec.trafficPolicy.loadBalancer.localityLbSetting"
	const z = "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting"
	loc := func(s, outlier string) string { return lbDR("{localityLbSetting: "+s+"}", outlier) }
	zone := func(s, outlier string) string { return lbDR("{zoneAwareLbSetting: "+s+"}", outlier) }
	// froms is a distribute list with these source localities.
	froms := func(ls ...string) string {
		out := "{distribute: ["
		for i, l := range ls {
			if i > 0 {
				out += ", "
			}
			out += "{from: '" + l + "', to: {x/y: 100}}"
		}
		return loc(out+"]}", "{}")
	}
	const noOutlier = "outlier detection policy must be provided for failover"
	zoneTopo := func(l string) string {
		return z + ".failoverPriority: 'failover_priority' for zone aware lb must not use topology label '" + l + "'; region- and zone-level routing are handled automatically"
	}
	return []docCase{
		// TestValidateLocalityLbSetting
		{name: "valid mesh config without LocalityLoadBalancerSetting", doc: lbDR("{simple: ROUND_ROBIN}", "")},
		{name: "invalid LocalityLoadBalancerSetting_Distribute total weight > 100", doc: loc("{distribute: [{from: a/b/c, to: {a/b/c: 80, a/b1: 25}}]}", "{}"),
			errs: []string{f + ".distribute[0].to: total locality weight 105 != 100"}},
		{name: "invalid LocalityLoadBalancerSetting_Distribute total weight < 100", doc: loc("{distribute: [{from: a/b/c, to: {a/b/c: 80, a/b1: 15}}]}", "{}"),
			errs: []string{f + ".distribute[0].to: total locality weight 95 != 100"}},
		{name: "invalid LocalityLoadBalancerSetting_Distribute weight = 0", doc: loc("{distribute: [{from: a/b/c, to: {a/b/c: 0, a/b1: 100}}]}", "{}"),
			errs: []string{f + ".distribute[0].to: locality weight must be in range [1, 100]"}},
		{name: "invalid LocalityLoadBalancerSetting specify both distribute and failover", doc: loc("{distribute: [{from: a/b/c, to: {a/b/c: 80, a/b1: 20}}], failover: [{from: region1, to: region2}]}", "{}"),
			errs: []string{f + ": can not simultaneously specify 'distribute' and 'failover'"}},
		{name: "invalid failover src and dst have same region", doc: loc("{failover: [{from: region1, to: region1}]}", "{}"),
			errs: []string{f + ".failover[0]: locality lb failover settings must specify different regions"}},
		{name: "invalid failover src contain '*' wildcard", doc: loc("{failover: [{from: '*', to: region2}]}", "{}"),
			errs: []string{f + ".failover[0]: locality lb failover region should not contain '*' wildcard"}},
		{name: "invalid failover dst contain '*' wildcard", doc: loc("{failover: [{from: region1, to: '*'}]}", "{}"),
			errs: []string{f + ".failover[0]: locality lb failover region should not contain '*' wildcard"}},
		{name: "invalid failover src contain '/' separator", doc: loc("{failover: [{from: region1/zone1, to: region2}]}", "{}"),
			errs: []string{f + ".failover[0]: locality lb failover only specify region"}},
		{name: "invalid failover dst contain '/' separator", doc: loc("{failover: [{from: region1, to: region2/zone1}]}", "{}"),
			errs: []string{f + ".failover[0]: locality lb failover only specify region"}},
		{name: "failover priority provided without outlier detection policy",
			doc:   loc("{failoverPriority: [topology.istio.io/network, topology.kubernetes.io/region, topology.kubernetes.io/zone, topology.istio.io/subzone]}", ""),
			warns: []string{f + ": " + noOutlier}},
		{name: "failover provided without outlier detection policy", doc: loc("{failover: [{from: us-east, to: eu-west}, {from: us-west, to: eu-east}]}", ""),
			warns: []string{f + ": " + noOutlier}},
		{name: "invalid LocalityLoadBalancerSetting specify both failoverPriority and region in failover", doc: loc("{failover: [{from: region1, to: region2}], failoverPriority: [topology.kubernetes.io/region]}", "{}"),
			errs: []string{f + ".failoverPriority: can not simultaneously set 'failover' and topology label 'topology.kubernetes.io/region' in 'failover_priority'"}},

		// TestValidateZoneAwareLbSetting
		{name: "nil setting is valid", doc: lbDR("{simple: ROUND_ROBIN}", "")},
		{name: "enabled only is valid", doc: zone("{enabled: true}", "{}")},
		{name: "valid region-level failover", doc: zone("{failover: [{from: us-east, to: eu-west}]}", "{}")},
		{name: "failover same src and dst region", doc: zone("{failover: [{from: region1, to: region1}]}", "{}"),
			errs: []string{z + ".failover[0]: zone aware lb failover settings must specify different regions"}},
		{name: "failover src has '/' (zone scope) is rejected", doc: zone("{failover: [{from: region1/zone1, to: region2}]}", "{}"),
			errs: []string{z + ".failover[0]: zone aware lb failover only specifies region; zone and subzone failover are handled automatically"}},
		{name: "failover dst has '/' (zone scope) is rejected", doc: zone("{failover: [{from: region1, to: region2/zone1}]}", "{}"),
			errs: []string{z + ".failover[0]: zone aware lb failover only specifies region; zone and subzone failover are handled automatically"}},
		{name: "failover src has '*' wildcard is rejected", doc: zone("{failover: [{from: '*', to: region2}]}", "{}"),
			errs: []string{z + ".failover[0]: zone aware lb failover region should not contain '*' wildcard"}},
		{name: "failover dst has '*' wildcard is rejected", doc: zone("{failover: [{from: region1, to: '*'}]}", "{}"),
			errs: []string{z + ".failover[0]: zone aware lb failover region should not contain '*' wildcard"}},
		{name: "failover and failoverPriority both set with topology region", doc: zone("{failover: [{from: region1, to: region2}], failoverPriority: [topology.kubernetes.io/region]}", "{}"),
			errs: []string{zoneTopo("topology.kubernetes.io/region")}},
		{name: "failoverPriority with region label is rejected", doc: zone("{failoverPriority: [topology.kubernetes.io/region]}", "{}"),
			errs: []string{zoneTopo("topology.kubernetes.io/region")}},
		{name: "failoverPriority with zone label is rejected", doc: zone("{failoverPriority: [topology.kubernetes.io/zone]}", "{}"),
			errs: []string{zoneTopo("topology.kubernetes.io/zone")}},
		{name: "failoverPriority with subzone label is rejected", doc: zone("{failoverPriority: [topology.istio.io/subzone]}", "{}"),
			errs: []string{zoneTopo("topology.istio.io/subzone")}},
		{name: "failoverPriority with non-topology labels is valid", doc: zone("{failoverPriority: [version, app=ratings]}", "{}")},
		{name: "failover without outlier detection warns", doc: zone("{failover: [{from: us-east, to: eu-west}]}", ""),
			warns: []string{z + ": " + noOutlier}},
		{name: "failoverPriority without outlier detection warns", doc: zone("{failoverPriority: [version]}", ""),
			warns: []string{z + ": " + noOutlier}},

		// TestValidateLocalities, as the sources of a distribute list
		{name: "multi wildcard locality", doc: froms("*/zone/*"),
			errs: []string{f + ".distribute: locality */zone/* wildcard '*' number can not exceed 1 and must be in the end"}},
		{name: "wildcard not in suffix", doc: froms("*/zone"),
			errs: []string{f + ".distribute: locality */zone wildcard '*' number can not exceed 1 and must be in the end"}},
		{name: "explicit wildcard region overlap", doc: froms("*", "a/b/c"),
			errs: []string{f + ".distribute: locality a/b/c overlap with previous specified ones"}},
		{name: "implicit wildcard region overlap", doc: froms("a", "a/b/c"),
			errs: []string{f + ".distribute: locality a/b/c overlap with previous specified ones"}},
		{name: "explicit wildcard zone overlap", doc: froms("a/*", "a/b/c"),
			errs: []string{f + ".distribute: locality a/b/c overlap with previous specified ones"}},
		{name: "implicit wildcard zone overlap", doc: froms("a/b", "a/b/c"),
			errs: []string{f + ".distribute: locality a/b/c overlap with previous specified ones"}},
		{name: "explicit wildcard subzone overlap", doc: froms("a/b/*", "a/b/c"),
			errs: []string{f + ".distribute: locality a/b/c overlap with previous specified ones"}},
		{name: "implicit wildcard subzone overlap (Istio repeats the zone case)", doc: froms("a/b", "a/b/c"),
			errs: []string{f + ".distribute: locality a/b/c overlap with previous specified ones"}},
		{name: "valid localities", doc: froms("a1/*", "a2/*", "a3/b3/c3", "a4/b4", "a5/b5/*")},
		{name: "a subzone may hold a slash (SplitN in three)", doc: froms("a/b/c/d")},
		{name: "empty zone", doc: froms("a//c"),
			errs: []string{f + ".distribute: locality a//c must not contain empty region/zone/subzone info"}},
	}
}

// istioDRTables are the tables of this file, by Istio's name.
func istioDRTables() map[string][]docCase {
	return map[string][]docCase{
		"TestValidateDestinationRule+TestValidateTLS": istioDestinationRuleTLSCases(),
		"Test_validateExportTo":                       istioExportToCases(),
		"Locality and zone-aware":                     istioLocalityCases(),
	}
}

// TestIstioDestinationRuleMoreTables runs the tables through Parse and
// Build.
func TestIstioDestinationRuleMoreTables(t *testing.T) {
	for table, cases := range istioDRTables() {
		for _, tc := range cases {
			t.Run(table+"/"+tc.name, func(t *testing.T) {
				errs, warns := findings(t, tc.doc)
				checkFindings(t, errs, appliedWarnings(warns), tc.errs, tc.warns)
			})
		}
	}
}
