/* Cerebro dashboard: the views (experiments, an experiment's tabs, compare, a trial). */
'use strict';
(function () {
  const CB = window.CB;
  const el = CB.el, link = CB.link;
  const app = () => document.getElementById('app');
  const TABS = [['trials', 'Trials'], ['charts', 'Charts'], ['schedule', 'Schedule'],
    ['space', 'Search space'], ['compare', 'Compare'], ['actions', 'Actions']];

  function crumbs(...parts) {
    const nav = document.getElementById('crumbs'); nav.textContent = '';
    nav.appendChild(link('/', 'experiments'));
    for (const p of parts) { nav.appendChild(document.createTextNode(' \u203a ')); nav.appendChild(p); }
    if (!CB.isStatic) { nav.appendChild(document.createTextNode(' \u00b7 ')); nav.appendChild(el('a', {href: '/docs'}, 'API docs')); }
  }
  function statusBadge(s) { return el('span', {class: 'badge ' + s}, s); }
  function sortable(table, rows, columns, state, onChange) {
    // Header cells sort rows by their key; `state` = {key, desc}.
    const head = el('tr');
    for (const c of columns) {
      const th = el('th', {class: (c.key ? 'sort ' : '') + (c.cls || ''), 'data-key': c.key || null, title: c.title || null},
        c.label + (c.key && state.key === c.key ? (state.desc ? ' \u25bc' : ' \u25b2') : ''));
      if (c.key) {
        th.setAttribute('aria-sort', state.key === c.key ? (state.desc ? 'descending' : 'ascending') : 'none');
        th.addEventListener('click', () => {
          state.desc = state.key === c.key ? !state.desc : !!c.descFirst; state.key = c.key; onChange();
        });
      }
      head.appendChild(th);
    }
    table.appendChild(el('thead', {}, head));
    const col = columns.find((c) => c.key === state.key);
    if (col) {
      const val = col.value || ((r) => r[col.key]);
      rows.sort((a, b) => {
        const x = val(a), y = val(b);
        const mx = x === null || x === undefined, my = y === null || y === undefined;
        if (mx || my) return mx - my;
        const r = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, {numeric: true});
        return state.desc ? -r : r;
      });
    }
    return rows;
  }

  // -- experiments ------------------------------------------------------------------------
  const expSort = {key: 'id', desc: true};
  async function experiments() {
    crumbs();
    let list = await CB.api('/experiments');
    const view = {state: null, update() {}};
    CB.view = view; CB.pollState = null; CB.showStuck(null);
    const root = app(); root.textContent = '';
    root.appendChild(el('h1', {}, 'Experiments'));
    const filter = el('input', {id: 'exp-filter', type: 'search', placeholder: 'filter by name, kind, status…', size: 40});
    const table = el('table', {id: 'exps', class: 'grid'});
    root.append(el('div', {class: 'controls'}, filter), el('div', {class: 'scroll'}, table));
    const draw = () => {
      table.textContent = '';
      const q = filter.value.trim().toLowerCase();
      const rows = list.filter((e) => !q || [e.name, e.kind, e.status, e.metric].join(' ').toLowerCase().includes(q));
      const cols = [
        {key: 'id', label: 'id'}, {key: 'name', label: 'name'}, {key: 'kind', label: 'kind'},
        {key: 'status', label: 'status'}, {key: 'metric', label: 'objective'},
        {key: 'best_value', label: 'best value'}, {key: 'best_model_id', label: 'best trial'},
        {key: 'trials', label: 'trials', descFirst: true},
        ...['RUNNING', 'DONE', 'STOPPED', 'FAILED'].map((s) => ({key: 's.' + s, label: s.toLowerCase(), value: (e) => e.trial_status[s] || 0, descFirst: true, cls: 'count'})),
        {key: 'created_at', label: 'started'}, {key: 'duration_s', label: 'duration', descFirst: true}];
      sortable(table, rows, cols, expSort, draw);
      const body = el('tbody');
      for (const e of rows) {
        body.appendChild(el('tr', {'data-id': e.id},
          el('td', {}, link('/experiments/' + e.id, String(e.id))), el('td', {}, link('/experiments/' + e.id, e.name)),
          el('td', {}, e.kind), el('td', {}, statusBadge(e.status)),
          el('td', {}, e.metric + ' ' + CB.arrow(e.direction)), el('td', {class: 'num'}, CB.num(e.best_value)),
          el('td', {}, e.best_trial_id ? link('/trials/' + e.best_trial_id, e.best_model_id) : ''),
          el('td', {class: 'num'}, String(e.trials)),
          ...['RUNNING', 'DONE', 'STOPPED', 'FAILED'].map((s) => el('td', {class: 'num count ' + (e.trial_status[s] ? s : 'zero')}, String(e.trial_status[s] || 0))),
          el('td', {}, CB.when(e.created_at)), el('td', {class: 'num'}, CB.dur(e.duration_s))));
      }
      table.appendChild(body);
      if (!rows.length) root.appendChild(el('p', {class: 'muted'}, 'No experiments recorded yet.'));
    };
    filter.addEventListener('input', draw);
    draw();
    // While a search runs, the list refreshes itself (the experiment pages use deltas).
    clearInterval(CB.listTimer);
    CB.listTimer = setInterval(async () => {
      if (CB.view !== view || CB.isStatic || document.hidden || !list.some((e) => e.status === 'RUNNING')) return;
      try { list = await CB.api('/experiments'); draw(); } catch (err) { CB.say(err.message); }
    }, 5000);
  }

  // -- one experiment -------------------------------------------------------------------------
  async function experiment(route) {
    const st = CB.expState(route.id);
    await st.refresh();
    CB.pollState = st; CB.showStuck(st);
    const root = app(); root.textContent = '';
    crumbs(link('/experiments/' + st.id, st.exp.name));
    const head = el('div', {class: 'exp-head'});
    const tabs = el('nav', {class: 'tabs', role: 'tablist'});
    for (const [key, label] of TABS) {
      if (key === 'actions' && CB.isStatic) continue;
      tabs.appendChild(link('/experiments/' + st.id + '/' + key, label,
        {role: 'tab', class: 'tab' + (route.view === key ? ' active' : ''), id: 'tab-' + key}));
    }
    const body = el('section', {id: 'view-' + route.view});
    root.append(head, tabs, body);
    const impl = VIEWS[route.view] || VIEWS.trials;
    const view = {state: st, update() { header(head, st); impl.update(body, st, route); }};
    CB.view = view;
    header(head, st);
    impl.render(body, st, route);
  }

  function header(box, st) {
    const e = st.exp; box.textContent = '';
    box.appendChild(el('h1', {id: 'title'}, e.name, ' ', statusBadge(e.status)));
    const best = e.best_trial_id ? st.trials.get(e.best_trial_id) : null;
    const cards = [
      ['objective', e.metric + ' ' + CB.arrow(e.direction)],
      ['best', best ? CB.num(best.best_value) + ' \u00b7 ' + best.model_id + ' @ epoch ' + best.best_epoch : 'no epoch yet'],
      ['trials', e.trials + (e.budget ? ' of ' + e.budget : '') + ' \u00b7 ' +
        ['RUNNING', 'DONE', 'STOPPED', 'FAILED'].filter((s) => e.trial_status[s]).map((s) => e.trial_status[s] + ' ' + s.toLowerCase()).join(', ')],
      ['duration', CB.dur(e.duration_s) + (e.status === 'RUNNING' ? ' so far' : '')],
      ['workers', String(e.num_workers || '')]];
    if (e.stats && e.stats.utilisation !== undefined) {
      cards.push(['utilisation', (100 * e.stats.utilisation).toFixed(1) + ' %']);
      cards.push(['hop overhead', (100 * e.stats.hop_overhead).toFixed(2) + ' %']);
    }
    const row = el('div', {class: 'cards', id: 'best'});
    for (const [k, v] of cards) row.appendChild(el('div', {class: 'card'}, el('div', {class: 'k'}, k), el('div', {class: 'v'}, v)));
    if (best) row.querySelector('.card:nth-child(2) .v').replaceChildren(
      CB.num(best.best_value) + ' \u00b7 ', link('/trials/' + best.id, best.model_id), ' @ epoch ' + best.best_epoch);
    box.appendChild(row);
    if (e.error) box.appendChild(el('p', {class: 'FAILED'}, e.error));
  }

  async function act(st, body) {
    try {
      const c = await CB.api('/experiments/' + st.id + '/commands', {method: 'POST', body: JSON.stringify(body)});
      CB.say(''); document.title = 'queued #' + c.id;
      await st.refresh(); if (CB.view) CB.view.update();
    } catch (err) { CB.say(err.message); }
  }
  function actionButtons(st, t) {
    const box = el('span', {class: 'actions'});
    if (CB.isStatic || !st.running) return box;
    if (t.status === 'RUNNING') box.appendChild(el('button', {class: 'stop', title: 'stop at the next sub-epoch boundary', onclick: () => act(st, {action: 'stop', model_id: t.model_id})}, 'Stop'));
    if (t.status === 'STOPPED' || t.status === 'DONE') box.appendChild(el('button', {class: 'resume', onclick: () => act(st, {action: 'resume', model_id: t.model_id})}, 'Resume'));
    return box;
  }

  // -- trials table ---------------------------------------------------------------------------
  const tableState = {sort: {key: 'best_value', desc: undefined}, filter: '', status: '', showHp: true, showMetrics: false, selected: new Set()};
  const ALIASES = {trial: 'model_id', id: 'model_id', objective: 'best_value', best: 'best_value', value: 'best_value',
    epoch: 'best_epoch', epochs: 'epochs_done', duration: 'duration_s'};
  function fieldOf(st, t, field) {
    const f = ALIASES[field] || field;
    if (f in t && typeof t[f] !== 'object') return f === 'duration_s' ? st.duration(t) : t[f];
    if (f.startsWith('hp.')) return t.hyperparameters[f.slice(3)];
    if (f in t.hyperparameters) return t.hyperparameters[f];
    if (f in t.metrics) return t.metrics[f];
    return undefined;
  }
  CB.parseFilter = function (text) {
    return text.trim().split(/\s+/).filter(Boolean).map((tok) => {
      const m = tok.match(/^([^<>=!~]+)(<=|>=|!=|=|<|>|~)(.*)$/);
      return m ? {field: m[1], op: m[2], value: m[3]} : {text: tok.toLowerCase()};
    });
  };
  function passes(st, t, conds) {
    for (const c of conds) {
      if (c.text !== undefined) {
        const hay = [t.model_id, t.status, JSON.stringify(t.hyperparameters), t.error, t.stop_reason].join(' ').toLowerCase();
        if (!hay.includes(c.text)) return false; continue;
      }
      const v = fieldOf(st, t, c.field);
      if (v === undefined || v === null) return false;
      const n = Number(c.value), numeric = typeof v === 'number' && c.value !== '' && !isNaN(n);
      const a = numeric ? v : String(v).toLowerCase(), b = numeric ? n : c.value.toLowerCase();
      const ok = {'=': a === b, '!=': a !== b, '<': a < b, '>': a > b, '<=': a <= b, '>=': a >= b, '~': String(a).includes(String(b))}[c.op];
      if (!ok) return false;
    }
    return true;
  }

  const trialsView = {
    render(body, st) {
      body.textContent = '';
      const filter = el('input', {id: 'trial-filter', type: 'search', size: 44, value: tableState.filter,
        placeholder: 'filter: units>=16 status=DONE lr<0.01, or any text'});
      const status = el('select', {id: 'status-filter'}, ['', 'RUNNING', 'DONE', 'STOPPED', 'FAILED'].map((s) =>
        el('option', {value: s, selected: s === tableState.status}, s || 'any status')));
      const hp = el('button', {id: 'toggle-hp', type: 'button'}), mt = el('button', {id: 'toggle-metrics', type: 'button'});
      const cmp = el('button', {id: 'compare', type: 'button'});
      const count = el('span', {id: 'trial-count', class: 'muted'});
      body.append(el('div', {class: 'controls'}, filter, status, hp, mt, cmp, count),
        el('div', {class: 'scroll', id: 'trials-scroll'}, el('table', {id: 'trials', class: 'grid'})));
      filter.addEventListener('input', () => { tableState.filter = filter.value; this.update(body, st); });
      status.addEventListener('change', () => { tableState.status = status.value; this.update(body, st); });
      hp.addEventListener('click', () => { tableState.showHp = !tableState.showHp; this.update(body, st); });
      mt.addEventListener('click', () => { tableState.showMetrics = !tableState.showMetrics; this.update(body, st); });
      cmp.addEventListener('click', () => CB.go('/experiments/' + st.id + '/compare?trials=' + [...tableState.selected].join(',')));
      this.update(body, st);
    },
    update(body, st) {
      const table = body.querySelector('#trials'); table.textContent = '';
      const hps = st.hyperparameters(), names = st.metricNames();
      body.querySelector('#toggle-hp').textContent = (tableState.showHp ? '\u25be' : '\u25b8') + ' hyperparameters (' + hps.length + ')';
      body.querySelector('#toggle-metrics').textContent = (tableState.showMetrics ? '\u25be' : '\u25b8') + ' last metrics (' + names.length + ')';
      const conds = CB.parseFilter(tableState.filter);
      const all = st.trialList();
      let rows = all.filter((t) => (!tableState.status || t.status === tableState.status) && passes(st, t, conds));
      const stuck = new Set(st.stuck.map((s) => s.trial_id));
      const dirMax = st.exp.direction === 'max';
      const cols = [
        {label: '', cls: 'sticky c0'}, {key: 'model_id', label: 'trial', cls: 'sticky c1'}, {label: 'actions', cls: 'sticky c2'},
        {key: 'status', label: 'status'},
        {key: 'best_value', label: st.exp.metric + ' ' + (dirMax ? '\u2191' : '\u2193'), descFirst: dirMax, title: 'the best epoch\'s value (KerasTuner\'s best)'},
        {key: 'best_epoch', label: 'best epoch'},
        {key: 'epochs_done', label: 'epochs', descFirst: true}, {key: 'duration_s', label: 'duration', value: (t) => st.duration(t), descFirst: true},
        {key: 'peak_rss_bytes', label: 'peak mem', descFirst: true}];
      if (tableState.showHp) for (const h of hps) cols.push({key: 'hp.' + h, label: h, cls: 'hp', value: (t) => t.hyperparameters[h]});
      if (tableState.showMetrics) for (const m of names) cols.push({key: 'm.' + m, label: m, cls: 'metric', value: (t) => t.metrics[m], descFirst: !m.includes('loss')});
      cols.push({label: 'error / why stopped'});
      if (tableState.sort.key === 'best_value' && tableState.sort.desc === undefined) tableState.sort.desc = dirMax;
      rows = sortable(table, rows, cols, tableState.sort, () => this.update(body, st));
      const tbody = el('tbody');
      for (const t of rows) {
        const box = el('input', {type: 'checkbox', class: 'pick', 'aria-label': 'compare ' + t.model_id,
          checked: tableState.selected.has(t.id), disabled: !tableState.selected.has(t.id) && tableState.selected.size >= 5});
        box.addEventListener('change', () => { if (box.checked) tableState.selected.add(t.id); else tableState.selected.delete(t.id); this.update(body, st); });
        const tr = el('tr', {'data-trial': t.model_id, class: stuck.has(t.id) ? 'stuck' : null},
          el('td', {class: 'sticky c0'}, box), el('td', {class: 'sticky c1'}, link('/trials/' + t.id, t.model_id)),
          el('td', {class: 'sticky c2'}, actionButtons(st, t)), el('td', {}, statusBadge(t.status)),
          el('td', {class: 'num obj'}, CB.num(t.best_value)), el('td', {class: 'num'}, t.best_epoch === null ? '' : String(t.best_epoch)),
          el('td', {class: 'num'}, t.epochs_done + '/' + t.epochs_planned), el('td', {class: 'num'}, CB.dur(st.duration(t))),
          el('td', {class: 'num'}, CB.bytes(t.peak_rss_bytes)));
        if (tableState.showHp) for (const h of hps) tr.appendChild(el('td', {class: 'hp'}, CB.num(t.hyperparameters[h])));
        if (tableState.showMetrics) for (const m of names) tr.appendChild(el('td', {class: 'num metric'}, CB.num(t.metrics[m])));
        const why = t.error || (t.stop_reason ? 'stopped early: ' + t.stop_reason : '');
        tr.appendChild(el('td', {class: t.error ? 'err' : 'why', title: why || null}, why.slice(0, 120)));
        tbody.appendChild(tr);
      }
      table.appendChild(tbody);
      body.querySelector('#trial-count').textContent = rows.length + ' of ' + all.length + ' trials';
      const n = tableState.selected.size, cmp = body.querySelector('#compare');
      cmp.textContent = 'Compare selected (' + n + ')'; cmp.disabled = n < 2 || n > 5;
    },
  };

  // -- charts -------------------------------------------------------------------------------
  let curveMetric = null;
  const chartsView = {
    render(body, st) {
      body.textContent = '';
      const sel = el('select', {id: 'metric'});
      sel.addEventListener('change', () => { curveMetric = sel.value; CB.charts.curves(body.querySelector('#curves'), st, curveMetric); });
      body.append(el('h2', {}, 'Learning curves'), el('label', {}, 'metric ', sel), el('div', {id: 'curves'}),
        el('h2', {}, 'Objective by trial'), el('div', {id: 'history'}),
        el('h2', {}, 'Parallel coordinates'), el('div', {id: 'parallel'}),
        el('h2', {}, 'Hyperparameter importance'), el('div', {id: 'importance'}),
        el('h2', {}, 'Slice plots'), el('div', {id: 'slices'}));
      this.update(body, st);
    },
    update(body, st) {
      const names = st.metricNames(), sel = body.querySelector('#metric');
      if (!curveMetric || !names.includes(curveMetric)) curveMetric = names.includes(st.exp.metric) ? st.exp.metric : names[0];
      if (sel.options.length !== names.length) { sel.textContent = ''; for (const m of names) sel.add(new Option(m, m)); }
      sel.value = curveMetric || '';
      if (curveMetric) CB.charts.curves(body.querySelector('#curves'), st, curveMetric);
      else CB.charts.empty(body.querySelector('#curves'), 'No epoch recorded yet.');
      CB.charts.history(body.querySelector('#history'), st);
      CB.charts.parallel(body.querySelector('#parallel'), st);
      CB.charts.slices(body.querySelector('#slices'), st);
      CB.api('/experiments/' + st.id + '/importance').then((imp) => CB.charts.importance(body.querySelector('#importance'), imp))
        .catch((err) => CB.say(err.message));
    },
  };

  const scheduleView = {
    all: false,
    render(body, st) {
      body.textContent = '';
      const btn = el('button', {id: 'gantt-all', type: 'button', onclick: async () => {
        this.all = !this.all; if (this.all) await st.loadOlderVisits(); this.update(body, st); }});
      body.append(el('p', {class: 'muted'}, 'One row per worker, one bar per visit (solid: train, dotted: eval, hatched: in flight, crossed: lost; red outline: stuck). Hover a bar for its model, epoch, partition and duration.'),
        btn, el('div', {id: 'gantt'}));
      this.update(body, st);
    },
    update(body, st) {
      body.querySelector('#gantt-all').textContent = this.all ? 'show the latest 3000 visits' : 'show every visit';
      body.querySelector('#gantt-all').hidden = st.visits.size <= 3000 && !st.olderVisits;
      CB.charts.gantt(body.querySelector('#gantt'), st, {all: this.all});
    },
  };

  const spaceView = {
    async render(body, st) {
      body.textContent = '';
      const sp = await CB.api('/experiments/' + st.id + '/space');
      body.appendChild(el('h2', {}, 'Hyperparameters as the trials used them'));
      const table = el('table', {id: 'space', class: 'grid'});
      table.appendChild(el('thead', {}, el('tr', {}, ['name', 'type', 'trials', 'values or range', 'declared'].map((h) => el('th', {}, h)))));
      const declared = sp.declared && typeof sp.declared === 'object' && !Array.isArray(sp.declared) ? sp.declared : {};
      const tbody = el('tbody');
      for (const h of sp.hyperparameters) {
        const vals = h.values ? h.values.map((v) => CB.num(v.value) + ' (' + v.trials + ' trial' + (v.trials > 1 ? 's' : '') + (v.best !== null ? ', best ' + CB.num(v.best) : '') + ')').join('; ')
          : CB.num(h.min) + ' \u2026 ' + CB.num(h.max);
        const dec = declared[h.name];
        tbody.appendChild(el('tr', {}, el('td', {}, h.name), el('td', {}, h.type), el('td', {class: 'num'}, String(h.trials)),
          el('td', {class: 'values'}, vals), el('td', {class: 'values'}, dec === undefined ? '' : CB.num(dec))));
      }
      table.appendChild(tbody);
      body.appendChild(el('div', {class: 'scroll'}, table));
      if (sp.declared !== null && sp.declared !== undefined) {
        body.append(el('h2', {}, 'Declared search space'), el('pre', {id: 'declared'}, JSON.stringify(sp.declared, null, 2)));
      } else body.appendChild(el('p', {class: 'muted'}, 'The search did not record its declared space.'));
    },
    update() {},
  };

  const compareView = {
    render(body, st, route) {
      body.textContent = '';
      const ids = (route.query.get('trials') || [...tableState.selected].join(',')).split(',').filter(Boolean).map(Number);
      const picker = el('div', {class: 'controls'}, 'Trials to compare (2\u20135): ');
      for (const t of st.trialList()) {
        const box = el('input', {type: 'checkbox', value: t.id, checked: ids.includes(t.id)});
        box.addEventListener('change', () => {
          const now = [...picker.querySelectorAll('input:checked')].map((b) => b.value).slice(0, 5);
          tableState.selected = new Set(now.map(Number));
          CB.go('/experiments/' + st.id + '/compare?trials=' + now.join(','));
        });
        picker.appendChild(el('label', {class: 'pick'}, box, t.model_id));
      }
      body.append(picker, el('div', {id: 'compare-body'}));
      this.ids = ids.filter((i) => st.trials.has(i)).slice(0, 5);
      this.update(body, st);
    },
    update(body, st) {
      const box = body.querySelector('#compare-body'); box.textContent = '';
      const ts = this.ids.map((i) => st.trials.get(i));
      if (ts.length < 2) { box.appendChild(el('p', {class: 'muted'}, 'Pick two to five trials (here or with the trials table\'s check boxes).')); return; }
      const table = el('table', {id: 'compare-table', class: 'grid'});
      table.appendChild(el('thead', {}, el('tr', {}, el('th', {}, ''), ts.map((t) => el('th', {style: 'border-bottom:3px solid ' + st.colourOf(t.id)}, link('/trials/' + t.id, t.model_id))))));
      const tbody = el('tbody');
      const row = (label, vals, cls) => {
        const diff = new Set(vals.map((v) => JSON.stringify(v))).size > 1;
        tbody.appendChild(el('tr', {class: (cls || '') + (diff ? ' differs' : '')}, el('th', {}, label), vals.map((v) => el('td', {}, v === undefined ? '\u2014' : CB.num(v)))));
      };
      row('status', ts.map((t) => t.status));
      row(st.exp.metric + ' (best)', ts.map((t) => t.best_value), 'obj');
      row('best epoch', ts.map((t) => t.best_epoch));
      row('epochs', ts.map((t) => t.epochs_done + '/' + t.epochs_planned));
      row('duration', ts.map((t) => CB.dur(st.duration(t))));
      for (const h of st.hyperparameters()) row(h, ts.map((t) => t.hyperparameters[h]), 'hp');
      table.appendChild(tbody);
      box.append(el('h2', {}, 'Side by side'), el('p', {class: 'muted'}, 'Rows that differ are highlighted.'), el('div', {class: 'scroll'}, table), el('h2', {}, 'Curves'));
      const grid = el('div', {class: 'pair'}); box.appendChild(grid);
      for (const m of st.metricNames()) {
        const div = el('div', {class: 'curve', 'data-metric': m}); grid.appendChild(div);
        CB.charts.curves(div, st, m, {trials: this.ids, height: 300});
      }
    },
  };

  const actionsView = {
    render(body, st) {
      body.textContent = '';
      const params = el('input', {id: 'addparams', size: 60, value: '{}'});
      body.append(el('p', {}, 'Stop or resume a trial with the buttons in the trials table; add a trial here. They take effect at the next sub-epoch boundary of the running search.'),
        el('div', {class: 'controls'}, el('label', {}, 'hyperparameters (JSON) ', params),
          el('button', {id: 'add', type: 'button', disabled: !st.running, onclick: () => {
            let p; try { p = JSON.parse(params.value); } catch (e) { CB.say('not JSON: ' + e.message); return; }
            act(st, {action: 'add', params: p});
          }}, 'Add trial')),
        el('table', {id: 'cmds', class: 'grid'}));
      this.update(body, st);
    },
    update(body, st) {
      const t = body.querySelector('#cmds'); t.textContent = '';
      t.appendChild(el('thead', {}, el('tr', {}, ['id', 'action', 'trial', 'status', 'message', 'queued'].map((h) => el('th', {}, h)))));
      t.appendChild(el('tbody', {}, st.commands.map((c) => el('tr', {}, el('td', {}, String(c.id)), el('td', {}, c.action),
        el('td', {}, c.model_id || JSON.stringify(c.params)), el('td', {}, c.status), el('td', {}, c.message), el('td', {}, CB.when(c.created_at))))));
    },
  };
  const VIEWS = {trials: trialsView, charts: chartsView, schedule: scheduleView, space: spaceView, compare: compareView, actions: actionsView};

  // -- one trial ------------------------------------------------------------------------------
  async function trial(route) {
    const t0 = await CB.api('/trials/' + route.id);
    const st = CB.expState(t0.experiment_id);
    await st.refresh();
    CB.pollState = st; CB.showStuck(st);
    crumbs(link('/experiments/' + st.id, st.exp.name), link('/trials/' + t0.id, t0.model_id));
    const root = app(); root.textContent = '';
    const head = el('div'), body = el('div', {id: 'trial-body'});
    root.append(head, body);
    const summary = el('pre', {id: 'summary'}, t0.summary || 'loading\u2026');
    if (!t0.summary && !CB.isStatic) {
      CB.api('/trials/' + t0.id + '/summary').then((s) => { summary.textContent = s.summary || ('No model summary: ' + s.note); })
        .catch((err) => { summary.textContent = 'No model summary: ' + err.message; });
    } else if (!t0.summary) summary.textContent = 'No model summary was recorded.';
    const view = {state: st, update() { trialBody(head, body, st, t0, summary); }};
    CB.view = view;
    view.update();
  }

  function trialBody(head, body, st, t0, summary) {
    const t = Object.assign({}, t0, st.trials.get(t0.id) || {});
    const hist = st.metrics.get(t.id) || t0.history || {};
    head.textContent = '';
    head.append(el('h1', {id: 'title'}, t.model_id, ' ', statusBadge(t.status)), el('div', {class: 'controls'}, actionButtons(st, t),
      CB.isStatic ? el('span', {class: 'muted'}, '(the .keras file downloads from the dashboard)')
        : el('a', {id: 'download', class: 'button', href: '/api/trials/' + t.id + '/model.keras', download: t.model_id + '.keras'}, '\u2b07 Download .keras')));
    const cards = el('div', {class: 'cards'});
    for (const [k, v] of [[st.exp.metric + ' (best)', CB.num(t.best_value) + (t.best_epoch ? ' @ epoch ' + t.best_epoch : '')],
      ['epochs', t.epochs_done + '/' + t.epochs_planned], ['duration', CB.dur(st.duration(t))], ['busy', CB.dur(t.compute_s)],
      ['peak memory', CB.bytes(t.peak_rss_bytes) || '\u2014']]) cards.appendChild(el('div', {class: 'card'}, el('div', {class: 'k'}, k), el('div', {class: 'v'}, v)));
    head.appendChild(cards);
    if (t.error) head.appendChild(el('pre', {class: 'FAILED'}, t.error));
    if (t.stop_reason) head.appendChild(el('p', {id: 'stop-reason', class: 'STOPPED'}, 'stopped early: ' + t.stop_reason));
    if (!body.firstChild) {
      body.append(el('h2', {}, 'Hyperparameters'), el('table', {id: 'hps', class: 'grid kv'}), el('h2', {}, 'Metrics per epoch'),
        el('div', {class: 'pair'}, el('div', {id: 'trial-curve'}), el('div', {id: 'trial-loss'})),
        el('div', {class: 'scroll'}, el('table', {id: 'epochs', class: 'grid'})),
        el('h2', {}, 'Its visits on the schedule'), el('div', {id: 'gantt'}), el('h2', {}, 'Keras model summary'), summary);
    }
    const hps = body.querySelector('#hps'); hps.textContent = '';
    hps.appendChild(el('tbody', {}, Object.entries(t.hyperparameters).map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, CB.num(v))))));
    const names = Object.keys(hist).sort((a, b) => (a.startsWith('val_') ? 0 : 1) - (b.startsWith('val_') ? 0 : 1) || a.localeCompare(b));
    const n = Math.max(0, ...names.map((m) => hist[m].length));
    const table = body.querySelector('#epochs'); table.textContent = '';
    table.appendChild(el('thead', {}, el('tr', {}, el('th', {}, 'epoch'), names.map((m) => el('th', {}, m)))));
    const rows = [];
    for (let i = 0; i < n; i++) rows.push(el('tr', {class: i + 1 === t.best_epoch ? 'best' : null}, el('td', {class: 'num'}, String(i + 1) + (i + 1 === t.best_epoch ? ' \u2605' : '')), names.map((m) => el('td', {class: 'num'}, CB.num(hist[m][i])))));
    table.appendChild(el('tbody', {}, rows));
    const base = st.exp.metric.replace(/^(val_|train_)/, '');
    const one = {trials: [t.id]};
    CB.charts.curves(body.querySelector('#trial-curve'), st, st.exp.metric, Object.assign({title: st.exp.metric}, one));
    const other = names.find((m) => m !== st.exp.metric && m.endsWith(base)) || names.find((m) => m !== st.exp.metric);
    if (other) CB.charts.curves(body.querySelector('#trial-loss'), st, other, Object.assign({title: other}, one));
    CB.charts.gantt(body.querySelector('#gantt'), st, {trial: t.id, title: t.model_id + ' on the schedule'});
  }

  // -- dispatch -------------------------------------------------------------------------------
  CB.render = async function () {
    const route = CB.parseRoute(CB.currentPath());
    CB.say('');
    try {
      if (route.name === 'experiment') await experiment(route);
      else if (route.name === 'trial') await trial(route);
      else await experiments();
    } catch (err) {
      CB.say(err.message);
      if (err.status === 401) app().replaceChildren(el('p', {}, 'This dashboard needs its token: open the URL that `cerebro dashboard` printed (it ends in ?token=\u2026).'));
    }
    window.scrollTo(0, 0);
  };
  window.addEventListener(CB.isStatic ? 'hashchange' : 'popstate', () => CB.render());
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => CB.render());
  else CB.render();
})();
