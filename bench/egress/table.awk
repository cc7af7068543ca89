# table.awk RAW: the #18 table from a harness raw file (RESULT lines):
# per row, every proxy's req/s, p50, p99 and CPU µs per call, with its
# ratios to Squid's in the same run.
/^RESULT/ && $0 !~ /bench=dns/ {
  delete kv
  for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
  b = kv["bench"]; l = kv["label"]
  if (!(b in seen)) { seen[b] = 1; order[++nb] = b }
  if (!((b, l) in have)) { have[b, l] = 1; labels[b, ++nl[b]] = l }
  rate[b, l] = (b == "connect_tunnel") ? kv["tunnels_per_s"] : kv["rps"]
  p50[b, l] = kv["p50_ms"]; p99[b, l] = kv["p99_ms"]; cpu[b, l] = kv["cpu_us_per_call"]
}
function ratio(a, s) { return (s + 0 > 0 && a + 0 > 0) ? sprintf("%.2f", a / s) : "" }
END {
  name["http"] = "HTTP forward (keep-alive)"; name["connect_keepalive"] = "requests in a kept-alive tunnel"
  name["connect_tunnel"] = "tunnel setups (TCP + CONNECT + TLS + GET)"
  for (k = 1; k <= nb; k++) {
    b = order[k]
    printf "\n%s\n\n| proxy | per s | p50 ms | p99 ms | CPU µs/call | CPU / Squid | rate / Squid | p99 / Squid |\n|---|---:|---:|---:|---:|---:|---:|---:|\n", name[b]
    for (j = 1; j <= nl[b]; j++) {
      l = labels[b, j]
      printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", l, rate[b, l], p50[b, l], p99[b, l], cpu[b, l],
        ratio(cpu[b, l], cpu[b, "squid"]), ratio(rate[b, l], rate[b, "squid"]), ratio(p99[b, l], p99[b, "squid"])
    }
  }
}
