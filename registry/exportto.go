package registry

// validateExportTo is Istio's validateExportTo: no duplicates ("." counts
// as the resource's namespace), only ".", "*", "~" (ServiceEntries only)
// or namespace names, "*" and "~" alone, and a DestinationRule with a
// workload selector exported to its own namespace only.
func validateExportTo(r *Resource, exportTo []string, isServiceEntry, isDestinationRuleWithSelector bool) Diagnostics {
	if len(exportTo) == 0 {
		return nil
	}
	var ds Diagnostics
	errf := func(field, format string, a ...any) { ds = append(ds, r.diag(SevError, field, format, a...)) }
	ns := r.Metadata.Namespace
	set := map[string]bool{}
	for i, e := range exportTo {
		f := at{"spec.exportTo", i}
		key := e
		if e == "." {
			key = ns
		}
		switch {
		case set[key] && key != e:
			errf(f.field(""), "duplicate entries in exportTo: . and current namespace %s", ns)
		case set[key]:
			errf(f.field(""), "duplicate entries in exportTo for entry %s", e)
		case isServiceEntry && e == "~":
			set[key] = true
		case key == "~":
			errf(f.field(""), "exportTo ~ (none) is not allowed for Istio configuration objects")
		case key != "*" && !isDNS1123Label(key):
			errf(f.field(""), "only .,*, or a valid DNS 1123 label is allowed as exportTo entry")
		default:
			set[key] = true
		}
	}
	if isDestinationRuleWithSelector && len(set) > 0 {
		if !set[ns] {
			errf("spec.exportTo", "destination rule with workload selector cannot have exportTo beyond current namespace")
		} else if len(set) > 1 {
			errf("spec.exportTo", "destination rule with workload selector cannot have multiple entries in exportTo")
		}
	}
	if set["*"] && len(exportTo) > 1 {
		errf("spec.exportTo", "cannot have both public (*) and non-public exportTo values for a resource")
	}
	if set["~"] && len(exportTo) > 1 {
		errf("spec.exportTo", "cannot export service entry to no one (~) and someone")
	}
	return ds
}
