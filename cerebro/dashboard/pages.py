"""The dashboard's two pages. They hold no data: their script reads everything from ``/api``.

Everything is inline (no CDN, works offline). Charts are SVGs the server draws, fetched with
the bearer token and shown through ``blob:`` URLs; every value is inserted as text.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")

_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>Cerebro dashboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:1200px}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:1.6rem} a{color:#1f5fbf}
table{border-collapse:collapse;font-size:.85rem} td,th{border-bottom:1px solid #ddd;padding:.25rem .5rem;text-align:left}
th.sort{cursor:pointer;user-select:none} th.sort:hover{background:#eef}
.RUNNING{color:#1f5fbf}.DONE{color:#1a7f37}.STOPPED{color:#9a6700}.FAILED{color:#cf222e}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;display:inline-block;margin-right:1rem;vertical-align:top}
#msg{color:#cf222e} img{max-width:100%} button{font-size:.8rem} code{font-size:.85rem}
</style></head><body>
<div id="msg" role="alert"></div>
"""

_COMMON_JS = """
const params = new URLSearchParams(location.search);
if (params.get('token')) { sessionStorage.setItem('cerebro-token', params.get('token'));
  params.delete('token'); history.replaceState(null, '', location.pathname + (params.toString() ? '?' + params : '')); }
const token = sessionStorage.getItem('cerebro-token');
const headers = token ? {'Authorization': 'Bearer ' + token} : {};
function say(text) { document.getElementById('msg').textContent = text || ''; }
async function api(path, opts) {
  const r = await fetch('/api' + path, Object.assign({headers: Object.assign({'Content-Type': 'application/json'}, headers)}, opts || {}));
  if (!r.ok) { let d = r.statusText; try { d = (await r.json()).detail; } catch (e) {} throw new Error(r.status + ': ' + JSON.stringify(d)); }
  return r.json();
}
async function image(el, path) {
  const r = await fetch('/api' + path, {headers});
  if (!r.ok) { say('chart: ' + r.status); return; }
  const old = el.src; el.src = URL.createObjectURL(await r.blob()); if (old.startsWith('blob:')) URL.revokeObjectURL(old);
}
function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }
function fmt(v) { return v === null || v === undefined ? '' : (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : (typeof v === 'object' ? JSON.stringify(v) : String(v))); }
"""

INDEX = _HEAD + """<h1>Cerebro experiments</h1>
<table id="exps"><thead><tr><th>id</th><th>name</th><th>kind</th><th>status</th><th>metric</th>
<th>trials</th><th>started</th><th>ended</th></tr></thead><tbody></tbody></table>
<p>REST API: <a href="/openapi.json">OpenAPI spec</a> (every path under <code>/api</code>).</p>
<script>""" + _COMMON_JS + """
async function load() {
  try {
    const body = document.querySelector('#exps tbody'); body.textContent = '';
    for (const e of await api('/experiments')) {
      const row = body.insertRow();
      const a = document.createElement('a'); a.href = '/experiments/' + e.id; a.textContent = e.id;
      row.insertCell().appendChild(a);
      cell(row, e.name); cell(row, e.kind); cell(row, e.status, e.status); cell(row, e.metric);
      cell(row, e.trials + ' ' + JSON.stringify(e.trial_status)); cell(row, e.created_at); cell(row, e.ended_at || '');
    }
  } catch (err) { say(err.message); }
}
load(); setInterval(load, 5000);
</script></body></html>"""

EXPERIMENT = _HEAD + """<p><a href="/">&larr; experiments</a></p>
<h1 id="title">Experiment</h1><div id="summary"></div>
<h2>Best model</h2><div id="best" class="card"></div>
<h2>Trials</h2><p>Click a column to sort; click a trial to see its learning curves.</p>
<table id="trials"><thead></thead><tbody></tbody></table>
<h2>Learning curves</h2><label>metric <select id="metric"></select></label><br>
<img id="curves" alt="learning curves of every trial"><img id="trialcurve" alt="">
<h2>Model hopper schedule</h2><img id="gantt" alt="Gantt chart of the schedule">
<h2>Actions</h2>
<p>Stop or resume a trial with the buttons in the table; add a trial here. They take effect at
the next sub-epoch boundary of the running search.</p>
<label>hyperparameters (JSON) <input id="addparams" size="50" value="{}"></label>
<button id="add">Add trial</button>
<table id="cmds"><thead><tr><th>id</th><th>action</th><th>trial</th><th>status</th><th>message</th></tr></thead><tbody></tbody></table>
<script>""" + _COMMON_JS + """
const eid = location.pathname.split('/').pop();
let sort = null, order = null, exp = null, chosen = null, seq = 0;
async function act(body) {
  try { const c = await api('/experiments/' + eid + '/commands', {method: 'POST', body: JSON.stringify(body)});
        say(''); document.title = 'queued #' + c.id; await load(); }
  catch (err) { say(err.message); }
}
function header(cols) {
  const head = document.querySelector('#trials thead'); head.textContent = '';
  const row = head.insertRow();
  for (const [key, label] of cols) {
    const th = document.createElement('th'); th.className = key ? 'sort' : '';
    th.textContent = label + (key && sort === key ? (order === 'desc' ? ' \\u25bc' : ' \\u25b2') : '');
    if (key) th.onclick = () => { order = sort === key && order === 'asc' ? 'desc' : 'asc'; sort = key; load(); };
    row.appendChild(th);
  }
}
async function load() {
  const mine = ++seq;  // a slower, older refresh must not overwrite a newer one
  try {
    const e = await api('/experiments/' + eid);
    const q = sort ? '?sort=' + encodeURIComponent(sort) + '&order=' + order : '';
    const trials = await api('/experiments/' + eid + '/trials' + q);
    const names = await api('/experiments/' + eid + '/metrics');
    const cmdlist = await api('/experiments/' + eid + '/commands');
    if (mine !== seq) return;
    exp = e;
    document.getElementById('title').textContent = exp.name + ' (' + exp.kind + ', ' + exp.status + ')';
    const st = exp.stats || {};
    document.getElementById('summary').textContent = 'ranked by ' + exp.metric + '; ' + exp.trials +
      ' trials ' + JSON.stringify(exp.trial_status) + (st.utilisation !== undefined ?
      '; worker utilisation ' + (100 * st.utilisation).toFixed(1) + '%, hop overhead ' + (100 * st.hop_overhead).toFixed(2) + '%' : '');
    const best = document.getElementById('best'); best.textContent = '';
    if (exp.best) { for (const line of ['trial ' + exp.best.model_id + ' (' + exp.best.status + ', ' + exp.best.epochs_done + ' epochs)',
          exp.metric + ' = ' + fmt(exp.best.metrics[exp.metric]), 'hyperparameters: ' + JSON.stringify(exp.best.hyperparameters)]) {
        const d = document.createElement('div'); d.textContent = line; best.appendChild(d); } }
    else best.textContent = 'no epoch has ended yet';
    const hps = [...new Set(trials.flatMap(t => Object.keys(t.hyperparameters)))];
    header([['model_id', 'trial'], ['status', 'status'], ['epochs_done', 'epochs'], ...hps.map(h => ['hp.' + h, h]),
            ...names.map(m => [m, m]), [null, 'action / error']]);
    const body = document.querySelector('#trials tbody'); body.textContent = '';
    for (const t of trials) {
      const row = body.insertRow();
      const a = document.createElement('a'); a.href = '#'; a.textContent = t.model_id;
      a.onclick = (ev) => { ev.preventDefault(); chosen = t.id; charts(); };
      row.insertCell().appendChild(a);
      cell(row, t.status, t.status); cell(row, t.epochs_done + '/' + t.epochs_planned);
      for (const h of hps) cell(row, fmt(t.hyperparameters[h]));
      for (const m of names) cell(row, fmt(t.metrics[m]));
      const td = row.insertCell();
      if (exp.status === 'RUNNING' && t.status === 'RUNNING') {
        const b = document.createElement('button'); b.textContent = 'Stop'; b.className = 'stop';
        b.onclick = () => act({action: 'stop', model_id: t.model_id}); td.appendChild(b); }
      if (exp.status === 'RUNNING' && (t.status === 'STOPPED' || t.status === 'DONE')) {
        const b = document.createElement('button'); b.textContent = 'Resume'; b.className = 'resume';
        b.onclick = () => act({action: 'resume', model_id: t.model_id}); td.appendChild(b); }
      if (t.error) { const sp = document.createElement('span'); sp.className = 'FAILED';
        sp.textContent = t.error.slice(0, 200); td.appendChild(sp); }
    }
    const sel = document.getElementById('metric');
    if (sel.options.length !== names.length) { sel.textContent = '';
      for (const m of names) sel.add(new Option(m, m, false, m === exp.metric)); }
    const cmds = document.querySelector('#cmds tbody'); cmds.textContent = '';
    for (const c of cmdlist) {
      const row = cmds.insertRow(); cell(row, c.id); cell(row, c.action); cell(row, c.model_id || JSON.stringify(c.params));
      cell(row, c.status); cell(row, c.message); }
    await charts();
  } catch (err) { say(err.message); }
}
async function charts() {
  const m = document.getElementById('metric').value || (exp && exp.metric) || '';
  await image(document.getElementById('curves'), '/experiments/' + eid + '/charts/curves?metric=' + encodeURIComponent(m));
  if (chosen !== null) await image(document.getElementById('trialcurve'), '/trials/' + chosen + '/charts/curves?metric=' + encodeURIComponent(m));
  await image(document.getElementById('gantt'), '/experiments/' + eid + '/charts/gantt');
}
document.getElementById('metric').onchange = charts;
document.getElementById('add').onclick = () => {
  let p; try { p = JSON.parse(document.getElementById('addparams').value); } catch (e) { say('not JSON: ' + e.message); return; }
  act({action: 'add', params: p});
};
load(); setInterval(() => { if (!exp || exp.status === 'RUNNING') load(); }, 5000);
</script></body></html>"""


def mount(app: FastAPI) -> None:
    """Adds the pages ``/`` and ``/experiments/{id}`` to ``app``."""

    def page(html: str) -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP})

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return page(INDEX)

    @app.get("/experiments/{experiment_id}", include_in_schema=False)
    def experiment(experiment_id: int) -> HTMLResponse:
        return page(EXPERIMENT)
