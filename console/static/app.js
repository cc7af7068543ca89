// Sluice console: records, live tail and cost over the admin API. Plain
// JavaScript, no dependencies; every number shown comes from the API.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

const state = {
  token: '',
  pages: [''],   // the cursor (after=) of each page seen; the last is the current page
  lastID: '',    // the last record of the current page
  full: false,   // the current page is full: there may be a next one
  tail: null,    // the AbortController of a running tail
};

// ---- time, in the viewer's time zone -------------------------------------

const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
const pad = (n, w = 2) => String(n).padStart(w, '0');

// fmtTime shows an RFC 3339 time in the viewer's zone with its offset.
function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)} ` +
    `${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

// localInput is a Date as a datetime-local value (the viewer's zone).
function localInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// fromInput turns a datetime-local value (the viewer's zone) into UTC RFC 3339.
function fromInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return isNaN(d) ? '' : d.toISOString();
}

// ---- the API ---------------------------------------------------------------

function showError(msg) {
  const e = $('#error');
  e.textContent = msg;
  e.hidden = !msg;
}

async function api(path, params, opts = {}) {
  const qs = params ? '?' + params.toString() : '';
  const resp = await fetch(path + qs, {
    headers: { Authorization: 'Bearer ' + state.token },
    signal: opts.signal,
    cache: 'no-store',
  });
  if (resp.status === 401) {
    signOut('The token was refused (401). Sign in again.');
    throw new Error('unauthorized');
  }
  if (!resp.ok) {
    let msg = resp.status + ' ' + resp.statusText;
    try { msg += ': ' + (await resp.json()).error; } catch (_) { /* not JSON */ }
    showError(msg);
    throw new Error(msg);
  }
  return resp;
}

// ---- sign in ---------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  try {
    const who = await (await api('/v1/whoami')).json();
    sessionStorage.setItem('sluice-token', token);
    $('#who').textContent = 'Signed in as ' + who.role;
    $('#signin').hidden = true;
    $('#tabs').hidden = false;
    $('#signout').hidden = false;
    showError('');
    showTab('records');
    await search(true);
  } catch (e) {
    if (e.message !== 'unauthorized') showError('Cannot sign in: ' + e.message);
  }
}

function signOut(msg) {
  stopTail();
  state.token = '';
  sessionStorage.removeItem('sluice-token');
  $('#who').textContent = '';
  $('#signin').hidden = false;
  $('#tabs').hidden = true;
  $('#signout').hidden = true;
  $$('.tab').forEach((s) => { s.hidden = true; });
  showError(msg || '');
}

function showTab(name) {
  $$('.tab').forEach((s) => { s.hidden = s.id !== name; });
  $$('#tabs button').forEach((b) => b.classList.toggle('active', b.dataset.tab === name));
  if (name === 'cost' && !$('#cost-table tbody').children.length) showCost();
}

// ---- records ---------------------------------------------------------------

// filterParams is the Records form as GET /v1/audit parameters.
function filterParams() {
  const p = new URLSearchParams();
  const f = new FormData($('#filter'));
  for (const [k, v] of f.entries()) {
    let val = String(v).trim();
    if (k === 'since' || k === 'until') val = fromInput(val);
    if (val) p.set(k, val);
  }
  return p;
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text == null || text === '' ? '–' : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function destination(r) {
  let d = r.host || '';
  if (r.port) d += ':' + r.port;
  return d + (r.path || '');
}

function statusOf(r) {
  if (!r.time_end) return 'open';
  if (r.status) return r.status;
  return r.error || r.reason ? 'failed' : '–';
}

function decisionOf(r) {
  let d = r.decision;
  if (d === 'deny' && !r.enforced) d = 'deny (report)';
  if (r.count > 1) d += ' ×' + r.count;
  return d;
}

async function search(first) {
  if (first) state.pages = [''];
  const p = filterParams();
  const after = state.pages[state.pages.length - 1];
  if (after) p.set('after', after);
  const limit = Number(p.get('limit') || 50);
  const body = await (await api('/v1/audit', p)).json();
  const tbody = $('#results tbody');
  tbody.replaceChildren();
  for (const r of body.records) {
    const tr = document.createElement('tr');
    tr.dataset.id = r.id;
    tr.className = 'rec ' + (r.decision === 'deny' ? 'deny' : 'allow');
    cell(tr, fmtTime(r.time_start), 'time');
    cell(tr, r.source_workload || r.source_identity || r.source_ip, 'source');
    cell(tr, decisionOf(r), 'decision');
    cell(tr, r.reason, 'reason');
    cell(tr, r.method);
    cell(tr, destination(r), 'dest');
    cell(tr, r.service_entry, 'se');
    cell(tr, statusOf(r), 'status');
    cell(tr, r.cost ? r.cost + ' ' + r.currency : '');
    cell(tr, r.id, 'id');
    tr.addEventListener('click', () => showDetail(r.id));
    tbody.appendChild(tr);
  }
  state.lastID = body.records.length ? body.records[body.records.length - 1].id : '';
  state.full = body.records.length === limit;
  const page = state.pages.length;
  $('#summary').textContent = body.records.length === 0
    ? (page > 1 ? 'No more records.' : 'No records match this filter.')
    : `${body.records.length} records, newest first (page ${page}; times in ${tz}).`;
  $('#page').textContent = 'Page ' + page;
  $('#next').disabled = !state.full;
  $('#prev').disabled = page <= 1;
  $('#first').disabled = page <= 1;
}

// ---- one call's detail -----------------------------------------------------

function dd(dl, k, v) {
  const dt = document.createElement('dt');
  dt.textContent = k;
  const d = document.createElement('dd');
  d.textContent = v === '' || v == null ? '–' : String(v);
  dl.append(dt, d);
}

async function showDetail(id) {
  const p = new URLSearchParams({ id, limit: '1' });
  const body = await (await api('/v1/audit', p)).json();
  const r = body.records[0];
  if (!r) { showError('Record ' + id + ' not found.'); return; }
  $('#detail-id').textContent = r.id;
  const main = $('#detail-main');
  main.replaceChildren();
  dd(main, 'Started', fmtTime(r.time_start));
  dd(main, 'Ended', r.time_end ? fmtTime(r.time_end) + ` (${r.duration_ms} ms)` : 'still open');
  dd(main, 'Caller', [r.source_workload, r.source_identity, r.source_ip].filter(Boolean).join(' · ') + ` (${r.identity_source})`);
  dd(main, 'Call', `${r.kind} ${r.method || ''} ${destination(r)} via ${r.listener}`);
  dd(main, 'Decision', decisionOf(r) + (r.reason ? ' — ' + r.reason : ''));
  dd(main, 'Outcome', `${statusOf(r)}${r.error ? ' — ' + r.error : ''}`);
  dd(main, 'Bytes', `${r.bytes_sent} sent, ${r.bytes_received} received`);
  dd(main, 'Cost', r.cost ? `${r.cost} ${r.currency} (meter ${r.meter || 'none'})` : '0');
  const rules = $('#detail-rules');
  rules.replaceChildren();
  for (const rule of r.policy_rules || []) {
    const li = document.createElement('li');
    li.textContent = rule;
    rules.appendChild(li);
  }
  if (!rules.children.length) rules.textContent = 'none recorded';
  const se = $('#detail-se');
  se.textContent = r.service_entry || 'none (undeclared)';
  if (r.service_entry) {
    try {
      const reg = await (await api('/v1/registry')).json();
      const d = (reg.destinations || []).find((x) => x.service_entry === r.service_entry);
      if (d) {
        const pre = document.createElement('pre');
        pre.id = 'detail-se-def';
        pre.textContent = JSON.stringify(d, null, 2);
        se.appendChild(pre);
      }
    } catch (_) { /* the registry is an extra */ }
  }
  $('#detail-trace').textContent = r.trace_id || 'none (not traced)';
  const fields = $('#detail-fields tbody');
  fields.replaceChildren();
  for (const [k, v] of Object.entries(r)) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = k;
    tr.appendChild(th);
    cell(tr, typeof v === 'object' && v !== null ? JSON.stringify(v) : v);
    fields.appendChild(tr);
  }
  $('#detail').hidden = false;
  $('#detail').scrollIntoView();
}

// ---- export ----------------------------------------------------------------

async function exportAs(fmt) {
  const p = filterParams();
  p.set('format', fmt);
  p.set('limit', '0');
  const resp = await api('/v1/audit/export', p);
  const blob = await resp.blob();
  const cd = resp.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(cd);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = m ? m[1] : 'sluice-records.' + fmt;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 10000);
}

// ---- live tail -------------------------------------------------------------

async function startTail() {
  stopTail();
  const ctl = new AbortController();
  state.tail = ctl;
  $('#tail-start').disabled = true;
  $('#tail-stop').disabled = false;
  $('#tail-state').textContent = 'following…';
  const p = filterParams();
  p.delete('limit');
  try {
    const resp = await api('/v1/audit/tail', p, { signal: ctl.signal });
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) addTailRow(JSON.parse(line));
      }
    }
    if (state.tail === ctl) startTail(); // the server ends a tail after an hour: follow on
  } catch (e) {
    if (e.name !== 'AbortError') $('#tail-state').textContent = 'stopped: ' + e.message;
  }
}

function addTailRow(r) {
  const tbody = $('#tail-rows tbody');
  const tr = document.createElement('tr');
  tr.className = 'rec ' + (r.decision === 'deny' ? 'deny' : 'allow');
  tr.dataset.id = r.id;
  cell(tr, fmtTime(r.time_start), 'time');
  cell(tr, r.source_workload || r.source_identity || r.source_ip, 'source');
  cell(tr, decisionOf(r), 'decision');
  cell(tr, r.reason, 'reason');
  cell(tr, r.method);
  cell(tr, destination(r), 'dest');
  cell(tr, statusOf(r), 'status');
  cell(tr, r.id, 'id');
  tbody.prepend(tr);
  while (tbody.children.length > 500) tbody.lastChild.remove();
}

function stopTail() {
  if (state.tail) state.tail.abort();
  state.tail = null;
  $('#tail-start').disabled = false;
  $('#tail-stop').disabled = true;
  $('#tail-state').textContent = '';
}

// ---- cost ------------------------------------------------------------------

const COLORS = ['#3465a4', '#f57900', '#4e9a06', '#cc0000', '#75507b', '#c4a000', '#888a85'];
const money = (v) => Number(v).toFixed(6);

function costKey(row, by) {
  return by.map((k) => row[k] || '–').join(' × ');
}

const svgNS = 'http://www.w3.org/2000/svg';
function svg(name, attrs, parent) {
  const el = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

async function showCost() {
  const form = new FormData($('#cost-form'));
  const by = form.getAll('by');
  const p = new URLSearchParams();
  p.set('since', fromInput(form.get('since')));
  p.set('until', fromInput(form.get('until')));
  p.set('by', by.join(','));
  const series = new URLSearchParams(p);
  if (form.get('step')) series.set('step', form.get('step'));
  const [report, ser] = await Promise.all([
    api('/v1/cost', p).then((r) => r.json()),
    api('/v1/cost/series', series).then((r) => r.json()),
  ]);
  renderCostTable(report.rows, by);
  renderCostChart(ser, by);
}

function renderCostTable(rows, by) {
  const tbody = $('#cost-table tbody');
  tbody.replaceChildren();
  const totals = {};
  for (const r of rows) {
    const tr = document.createElement('tr');
    cell(tr, by.includes('source') ? r.source : '(all)');
    cell(tr, by.includes('destination') ? r.destination : '(all)');
    cell(tr, by.includes('meter') ? r.meter : '(all)');
    cell(tr, r.calls, 'num');
    cell(tr, r.bytes, 'num');
    cell(tr, money(r.cost), 'num cost');
    cell(tr, r.currency);
    tbody.appendChild(tr);
    const t = totals[r.currency] || (totals[r.currency] = { calls: 0, bytes: 0, cost: 0 });
    t.calls += r.calls; t.bytes += r.bytes; t.cost += r.cost;
  }
  const tfoot = $('#cost-table tfoot');
  tfoot.replaceChildren();
  const parts = [];
  for (const [cur, t] of Object.entries(totals)) {
    const tr = document.createElement('tr');
    cell(tr, 'Total'); cell(tr, ''); cell(tr, '');
    cell(tr, t.calls, 'num'); cell(tr, t.bytes, 'num'); cell(tr, money(t.cost), 'num cost'); cell(tr, cur);
    tfoot.appendChild(tr);
    parts.push(`${money(t.cost)} ${cur} over ${t.calls} calls`);
  }
  const total = $('#cost-total');
  total.textContent = parts.length ? 'Total: ' + parts.join('; ') : 'No calls went out in this range.';
  total.dataset.total = Object.values(totals).reduce((s, t) => s + t.cost, 0).toFixed(6);
}

function renderCostChart(ser, by) {
  // Groups by their total, largest first; beyond six, "other".
  const sums = new Map();
  for (const b of ser.buckets) for (const r of b.rows) {
    const k = costKey(r, by);
    sums.set(k, (sums.get(k) || 0) + r.cost);
  }
  const top = [...sums.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k]) => k);
  const groupOf = (r) => { const k = costKey(r, by); return top.includes(k) ? k : 'other'; };
  const groups = [...top, ...(sums.size > top.length ? ['other'] : [])];
  const W = 820, H = 260, L = 70, B = 40, T = 10;
  const n = Math.max(ser.buckets.length, 1);
  const bw = (W - L - 10) / n;
  let max = 0, all = 0;
  const stacks = ser.buckets.map((b) => {
    const st = {};
    for (const r of b.rows) { const g = groupOf(r); st[g] = (st[g] || 0) + r.cost; all += r.cost; }
    max = Math.max(max, Object.values(st).reduce((s, v) => s + v, 0));
    return st;
  });
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', id: 'cost-svg',
    'data-total': all.toFixed(6), 'aria-label': `cost per ${ser.step}, total ${all.toFixed(6)}` });
  const y = (v) => H - B - (max ? (v / max) * (H - B - T) : 0);
  svg('line', { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: '#555' }, root);
  svg('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#555' }, root);
  for (const f of [0, 0.5, 1]) {
    const t = svg('text', { x: L - 6, y: y(max * f) + 4, 'text-anchor': 'end', 'font-size': 11 }, root);
    t.textContent = money(max * f);
  }
  stacks.forEach((st, i) => {
    let base = 0;
    const x = L + i * bw + 1;
    groups.forEach((g, gi) => {
      const v = st[g] || 0;
      if (!v) return;
      const rect = svg('rect', { x, y: y(base + v), width: Math.max(bw - 2, 1), height: y(base) - y(base + v),
        fill: COLORS[gi % COLORS.length], class: 'bar', 'data-cost': v.toFixed(6), 'data-group': g }, root);
      svg('title', {}, rect).textContent = `${g}: ${money(v)} (${fmtTime(ser.buckets[i].start)})`;
      base += v;
    });
  });
  const labels = Math.min(n, 6);
  for (let j = 0; j < labels; j++) {
    const i = Math.floor((j * n) / labels);
    const b = ser.buckets[i];
    if (!b) continue;
    const t = svg('text', { x: L + i * bw, y: H - B + 16, 'font-size': 11 }, root);
    t.textContent = fmtTime(b.start).slice(5, 16);
  }
  $('#cost-chart').replaceChildren(root);
  const legend = $('#cost-legend');
  legend.replaceChildren();
  groups.forEach((g, gi) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = COLORS[gi % COLORS.length];
    li.append(sw, document.createTextNode(` ${g}: ${money(g === 'other' ? all - top.reduce((s, k) => s + sums.get(k), 0) : sums.get(g))}`));
    legend.appendChild(li);
  });
}

// ---- wiring ----------------------------------------------------------------

function resetRange(form, hours) {
  const now = new Date();
  form.elements.since.value = localInput(new Date(now.getTime() - hours * 3600e3));
  form.elements.until.value = '';
}

function guard(fn) {
  return (ev) => {
    if (ev) ev.preventDefault();
    fn().catch((e) => { if (e.message !== 'unauthorized') showError(e.message); });
  };
}

document.addEventListener('DOMContentLoaded', () => {
  $$('.tzname').forEach((s) => { s.textContent = '(times in ' + tz + ')'; });
  resetRange($('#filter'), 24);
  resetRange($('#cost-form'), 24 * 7);
  $('#cost-form').elements.until.value = localInput(new Date(Date.now() + 60e3));
  $('#token-form').addEventListener('submit', (ev) => { ev.preventDefault(); signIn($('#token').value.trim()); });
  $('#signout').addEventListener('click', () => signOut());
  $$('#tabs button').forEach((b) => b.addEventListener('click', () => showTab(b.dataset.tab)));
  $('#filter').addEventListener('submit', guard(() => search(true)));
  $('#clear').addEventListener('click', guard(() => { $('#filter').reset(); resetRange($('#filter'), 24); return search(true); }));
  $('#next').addEventListener('click', guard(() => { state.pages.push(state.lastID); return search(false); }));
  $('#prev').addEventListener('click', guard(() => { state.pages.pop(); return search(false); }));
  $('#first').addEventListener('click', guard(() => search(true)));
  $('#detail-close').addEventListener('click', () => { $('#detail').hidden = true; });
  $('#export-csv').addEventListener('click', guard(() => exportAs('csv')));
  $('#export-jsonl').addEventListener('click', guard(() => exportAs('jsonl')));
  $('#tail-start').addEventListener('click', () => startTail());
  $('#tail-stop').addEventListener('click', () => stopTail());
  $('#cost-form').addEventListener('submit', guard(() => {
    const f = $('#cost-form');
    if (!f.elements.until.value) f.elements.until.value = localInput(new Date(Date.now() + 60e3));
    return showCost();
  }));
  // A token in the fragment (#token=…, never sent to the server) signs in
  // and is removed from the address bar; else one from this tab's session.
  if (!tokenFromHash()) {
    if (sessionStorage.getItem('sluice-token')) {
      signIn(sessionStorage.getItem('sluice-token'));
    } else {
      // A gateway without admin.token (loopback only) asks for none.
      fetch('/v1/whoami', { cache: 'no-store' }).then((r) => { if (r.ok) signIn(''); }).catch(() => {});
    }
  }
  window.addEventListener('hashchange', tokenFromHash);
});

function tokenFromHash() {
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (!m) return false;
  history.replaceState(null, '', location.pathname + location.search);
  signIn(decodeURIComponent(m[1]));
  return true;
}
