/* Cerebro dashboard: data access, routing, experiment state kept current by JSON deltas.
 *
 * Two data sources share every view: the dashboard's REST API (fetch, the token in a
 * cookie) and, in a static report, the API answers embedded in the page
 * (<script type="application/json" id="cerebro-data">). Every value reaches the DOM as text.
 */
'use strict';
(function () {
  const CB = window.CB = {};
  const dataEl = document.getElementById('cerebro-data');
  CB.data = dataEl ? JSON.parse(dataEl.textContent) : null;
  CB.isStatic = !!CB.data;
  CB.POLL_MS = 2000;

  // -- the API (or the report's copy of its answers) ------------------------------------
  CB.api = async function (path, opts) {
    if (CB.isStatic) {
      const key = path.split('?')[0];
      if (!(key in CB.data.api)) {
        const err = new Error('not in this report: ' + key); err.status = 404; throw err;
      }
      return CB.data.api[key];
    }
    const o = Object.assign({credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-Cerebro': '1'}}, opts || {});
    const r = await fetch('/api' + path, o);
    if (!r.ok) {
      let d = r.statusText;
      try { d = (await r.json()).detail; } catch (e) { /* not JSON */ }
      const err = new Error(r.status + ': ' + (typeof d === 'string' ? d : JSON.stringify(d)));
      err.status = r.status; throw err;
    }
    return r.json();
  };

  // -- routes: real paths on the dashboard, #paths in a report ---------------------------
  CB.currentPath = function () {
    return CB.isStatic ? (location.hash.slice(1) || CB.data.start || '/')
      : location.pathname + location.search;
  };
  CB.parseRoute = function (path) {
    const url = new URL(path, 'http://cerebro.invalid');
    const seg = url.pathname.split('/').filter(Boolean);
    const q = url.searchParams;
    if (seg[0] === 'experiments' && /^\d+$/.test(seg[1] || '')) {
      return {name: 'experiment', id: +seg[1], view: seg[2] || 'trials', query: q};
    }
    if (seg[0] === 'trials' && /^\d+$/.test(seg[1] || '')) return {name: 'trial', id: +seg[1], query: q};
    return {name: 'experiments', query: q};
  };
  CB.href = (path) => (CB.isStatic ? '#' + path : path);
  const brand = document.querySelector('header .brand');
  if (brand) { brand.setAttribute('href', CB.href('/')); brand.setAttribute('data-route', '/'); }
  CB.go = function (path) {
    if (CB.isStatic) { location.hash = path; return; }
    history.pushState(null, '', path);
    CB.render();
  };
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest && ev.target.closest('a[data-route]');
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    CB.go(a.getAttribute('data-route'));
  });

  // -- DOM helpers (text only, never HTML from data) ---------------------------------------
  CB.el = function (tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat()) {
      if (kid === undefined || kid === null || kid === false) continue;
      e.appendChild(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
    }
    return e;
  };
  CB.link = (path, text, attrs) => CB.el('a', Object.assign({href: CB.href(path), 'data-route': path}, attrs || {}), text);
  CB.say = function (text) { document.getElementById('msg').textContent = text || ''; };
  CB.num = function (v, digits) {
    if (v === null || v === undefined || v === '') return '';
    if (typeof v !== 'number') return typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return v.toFixed(digits === undefined ? 4 : digits);
  };
  CB.dur = function (s) {
    if (s === null || s === undefined) return '';
    if (s < 1) return (s * 1000).toFixed(0) + ' ms';
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    const m = Math.floor(s / 60), h = Math.floor(m / 60);
    if (h) return h + ' h ' + String(m % 60).padStart(2, '0') + ' m';
    return m + ' m ' + String(Math.round(s % 60)).padStart(2, '0') + ' s';
  };
  CB.bytes = (b) => (b ? (b / 2 ** 20).toFixed(0) + ' MiB' : '');
  CB.when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
  CB.arrow = (direction) => (direction === 'max' ? '\u2191 max' : '\u2193 min');
  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
    '#7f7f7f', '#bcbd22', '#17becf', '#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5',
    '#c49c94', '#f7b6d2', '#c7c7c7', '#dbdb8d', '#9edae5'];
  CB.colour = (i) => PALETTE[i % PALETTE.length];

  // -- one experiment's records, kept current by deltas ------------------------------------
  class ExpState {
    constructor(id) {
      this.id = id; this.rev = -1; this.exp = null; this.trials = new Map();
      this.metrics = new Map(); this.visits = new Map(); this.commands = []; this.stuck = [];
      this.nowS = 0; this.fetchedAt = 0; this.changed = true; this.importance = null;
    }
    apply(d) {
      const ids = (xs) => xs.map((x) => x.visit_id).join(',');
      this.changed = d.rev !== this.rev || ids(d.stuck) !== ids(this.stuck);
      this.exp = d.experiment; this.commands = d.commands; this.stuck = d.stuck;
      this.nowS = d.now_s; this.fetchedAt = Date.now();
      for (const t of d.trials) this.trials.set(t.id, t);
      for (const [tid, epoch, name, value] of d.metrics.rows) {
        if (!this.metrics.has(tid)) this.metrics.set(tid, {});
        const m = this.metrics.get(tid);
        if (!m[name]) m[name] = [];
        while (m[name].length < epoch - 1) m[name].push(null);
        m[name][epoch - 1] = value;
      }
      this.addVisits(d.visits);
      if (d.since === 0) this.olderVisits = d.visits.older;
      this.rev = d.rev;
    }
    addVisits(page) {
      const cols = page.columns;
      for (const row of page.rows) {
        const v = {}; cols.forEach((c, i) => { v[c] = row[i]; });
        this.visits.set(v.id, v);
      }
    }
    async loadOlderVisits() {  // the pages of visits a first delta left out
      while (this.olderVisits && !CB.isStatic) {
        const page = await CB.api('/experiments/' + this.id + '/visits?before=' + this.olderVisits);
        this.addVisits(page); this.olderVisits = page.older;
      }
    }
    async refresh() {
      this.apply(await CB.api('/experiments/' + this.id + '/delta?since=' + Math.max(0, this.rev)));
      return this.changed;
    }
    get running() { return this.exp && this.exp.status === 'RUNNING'; }
    now() { return this.nowS + (this.running && !CB.isStatic ? (Date.now() - this.fetchedAt) / 1000 : 0); }
    trialList() { return [...this.trials.values()].sort((a, b) => a.id - b.id); }
    colourOf(tid) { return CB.colour(this.trialList().findIndex((t) => t.id === tid)); }
    metricNames() {
      const names = new Set();
      for (const m of this.metrics.values()) for (const k of Object.keys(m)) names.add(k);
      return [...names].sort((a, b) => (a.startsWith('val_') ? 0 : 1) - (b.startsWith('val_') ? 0 : 1) || a.localeCompare(b));
    }
    hyperparameters() {
      const names = new Set();
      for (const t of this.trials.values()) for (const k of Object.keys(t.hyperparameters)) names.add(k);
      return [...names];
    }
    duration(t) {
      if (t.status !== 'RUNNING' || !t.started_at) return t.duration_s;
      const startS = (new Date(t.started_at) - new Date(this.exp.created_at)) / 1000;
      return Math.max(0, this.now() - startS);
    }
    better(a, b) {
      if (a === null || a === undefined) return false;
      if (b === null || b === undefined) return true;
      return this.exp.direction === 'max' ? a > b : a < b;
    }
  }
  const states = new Map();
  CB.expState = function (id) {
    if (!states.has(id)) states.set(id, new ExpState(id));
    return states.get(id);
  };

  // -- the live loop ------------------------------------------------------------------------
  CB.view = null;  // {update(): redraw from the current state}; set by views.js
  CB.pollState = null;
  async function tick() {
    const st = CB.pollState;
    if (CB.isStatic || !st || !st.running || document.hidden) return;
    try {
      const changed = await st.refresh();
      document.getElementById('live').textContent = 'live \u00b7 updated ' + new Date().toLocaleTimeString();
      if (changed && CB.view && CB.view.state === st) CB.view.update();
      CB.showStuck(st);
    } catch (err) { CB.say(err.message); }
  }
  setInterval(tick, CB.POLL_MS);

  CB.showStuck = function (st) {
    const box = document.getElementById('stuck');
    box.textContent = '';
    if (!st || !st.stuck.length) { box.className = ''; return; }
    box.className = 'warning';
    for (const s of st.stuck) {
      const why = s.reason === 'deadline' ? 'past its liveness deadline of ' + CB.dur(s.deadline_s)
        : Math.round(s.times_typical) + '\u00d7 its usual ' + CB.dur(s.typical_s);
      box.appendChild(CB.el('div', {class: 'stuck-visit'}, '\u26a0 Stuck visit: ',
        CB.link('/trials/' + s.trial_id, s.model_id), ' (' + s.kind + ', epoch ' + s.epoch +
        ', worker ' + s.worker + ') has run ' + CB.dur(s.elapsed_s) + ', ' + why + '.'));
    }
  };
})();
