/* Cerebro dashboard: interactive charts (plotly.js, bundled; no CDN).
 *
 * Each function draws into a div with Plotly.react, so a redraw after a delta keeps the
 * reader's zoom (uirevision) and only changes what changed.
 */
'use strict';
(function () {
  const CB = window.CB;
  const C = CB.charts = {};
  const CONFIG = {displaylogo: false, responsive: true,
    modeBarButtonsToRemove: ['lasso2d', 'select2d']};
  const FONT = {family: 'system-ui, sans-serif', size: 12};
  // why a visit was lost (LostReason): a stopped worker's silence vs a visit's deadline
  const LOST_LABELS = {no_heartbeat: 'no heartbeat', hung: 'deadline', exited: 'worker died',
    memory: 'out of memory'};

  function layout(extra) {
    if (extra && extra.title && extra.title.x === undefined) Object.assign(extra.title, {x: 0.01, xanchor: 'left'});
    return Object.assign({margin: {l: 60, r: 20, t: 40, b: 48}, font: FONT, uirevision: 'keep',
      hovermode: 'closest', plot_bgcolor: '#fff', paper_bgcolor: '#fff'}, extra);
  }
  function draw(div, traces, lay) {
    div.classList.add('chart');
    return Plotly.react(div, traces, layout(lay), CONFIG);
  }
  function empty(div, text) {
    if (div.data) Plotly.purge(div);
    div.classList.remove('chart');
    div.textContent = '';
    div.appendChild(CB.el('p', {class: 'muted empty'}, text));
  }
  C.empty = empty;

  function categorical(values) {
    return values.some((v) => v !== null && v !== undefined && (typeof v !== 'number'));
  }

  // Learning curves: one line per trial, hover names trial, epoch and value.
  C.curves = function (div, st, metric, opts) {
    opts = opts || {};
    const only = opts.trials ? new Set(opts.trials) : null;
    const best = st.exp.best_trial_id;
    const traces = [];
    let maxEpoch = 0;
    for (const t of st.trialList()) {
      if (only && !only.has(t.id)) continue;
      const ys = (st.metrics.get(t.id) || {})[metric];
      if (!ys || !ys.length) continue;
      maxEpoch = Math.max(maxEpoch, ys.length);
      const isBest = t.id === best && !only;
      traces.push({type: 'scatter', mode: 'lines+markers', name: t.model_id + (isBest ? ' (best)' : ''),
        x: ys.map((_, i) => i + 1), y: ys,
        line: {color: st.colourOf(t.id), width: isBest ? 3.5 : 1.6, dash: isBest || only ? 'solid' : 'dot'},
        marker: {size: isBest ? 7 : 4}, opacity: isBest || only ? 1 : 0.75,
        customdata: ys.map(() => t.status),
        hovertemplate: '<b>' + t.model_id + '</b><br>epoch %{x}<br>' + metric + ' = %{y:.4f}<br>%{customdata}<extra></extra>'});
    }
    if (!traces.length) return empty(div, 'No epoch of ' + metric + ' recorded yet.');
    draw(div, traces, {title: {text: opts.title || metric}, height: opts.height || 380,
      showlegend: traces.length > 1 && traces.length <= 25,
      legend: only ? {font: {size: 10}, orientation: 'h', y: -0.25} : {font: {size: 10}},
      xaxis: {title: {text: 'epoch'}, tickformat: 'd', dtick: maxEpoch <= 20 ? 1 : undefined},
      yaxis: {title: {text: metric}}});
  };

  // Objective of each trial in the order they were added, and the best so far.
  C.history = function (div, st) {
    const ts = st.trialList().filter((t) => t.best_value !== null);
    if (!ts.length) return empty(div, 'No trial has a value of the objective yet.');
    let best = null;
    const bestSoFar = ts.map((t) => { if (st.better(t.best_value, best)) best = t.best_value; return best; });
    draw(div, [
      {type: 'scatter', mode: 'markers', name: 'trial', x: ts.map((_, i) => i + 1), y: ts.map((t) => t.best_value),
        text: ts.map((t) => t.model_id), marker: {size: 8, color: ts.map((t) => st.colourOf(t.id))},
        hovertemplate: '<b>%{text}</b><br>' + st.exp.metric + ' = %{y:.4f}<extra></extra>'},
      {type: 'scatter', mode: 'lines', name: 'best so far', x: ts.map((_, i) => i + 1), y: bestSoFar,
        line: {color: '#d62728', shape: 'hv'}, hoverinfo: 'skip'}],
    {title: {text: 'Objective by trial (' + st.exp.metric + ', ' + CB.arrow(st.exp.direction) + ')'}, height: 340,
      xaxis: {title: {text: 'trial (in the order added)'}, tickformat: 'd', dtick: ts.length <= 20 ? 1 : undefined}, yaxis: {title: {text: st.exp.metric}}});
  };

  // Parallel coordinates: every varying hyperparameter, then the objective.
  C.parallel = function (div, st) {
    const ts = st.trialList().filter((t) => t.best_value !== null);
    if (ts.length < 2) return empty(div, 'Parallel coordinates need two trials with a value.');
    const dims = [];
    for (const name of st.hyperparameters()) {
      const vals = ts.map((t) => t.hyperparameters[name]);
      if (new Set(vals.map((v) => JSON.stringify(v))).size < 2) continue;
      if (categorical(vals)) {
        const cats = [...new Set(vals.map((v) => String(v)))].sort();
        dims.push({label: name, values: vals.map((v) => cats.indexOf(String(v))),
          tickvals: cats.map((_, i) => i), ticktext: cats});
      } else {
        const nums = vals.filter((v) => v !== null && v !== undefined);
        const fill = Math.min(...nums) - 1;
        dims.push({label: name, values: vals.map((v) => (v === null || v === undefined ? fill : v))});
      }
    }
    if (!dims.length) return empty(div, 'No hyperparameter varies across the trials yet.');
    const obj = ts.map((t) => t.best_value);
    dims.push({label: st.exp.metric, values: obj});
    draw(div, [{type: 'parcoords', dimensions: dims,
      line: {color: obj, colorscale: 'Viridis', reversescale: st.exp.direction === 'min', showscale: true,
        colorbar: {title: {text: st.exp.metric}}}}],
    {title: {text: 'Parallel coordinates (drag along an axis to filter)'}, height: 420, margin: {l: 70, r: 70, t: 70, b: 30}});
  };

  C.importance = function (div, imp) {
    if (!imp || !imp.importances.length) return empty(div, 'Importance: ' + ((imp && imp.note) || 'not computed yet') + '.');
    const rows = imp.importances.slice().reverse();
    draw(div, [{type: 'bar', orientation: 'h', x: rows.map((r) => r.importance), y: rows.map((r) => r.name),
      marker: {color: '#1f77b4'}, hovertemplate: '%{y}: %{x:.3f}<extra></extra>'}],
    {title: {text: 'Hyperparameter importance for ' + imp.objective + ' (' + imp.trials + ' trials)'},
      height: 120 + 28 * rows.length, margin: {l: 200, r: 20, t: 40, b: 40},
      xaxis: {title: {text: 'importance (' + imp.method + ')'}, rangemode: 'tozero'}});
  };

  // Slice plots: the objective against each hyperparameter, one small chart each.
  C.slices = function (box, st) {
    box.textContent = '';
    const ts = st.trialList().filter((t) => t.best_value !== null);
    if (!ts.length) { box.appendChild(CB.el('p', {class: 'muted'}, 'No trial has a value of the objective yet.')); return; }
    box.className = 'slices';
    for (const name of st.hyperparameters()) {
      const inner = ts.filter((t) => name in t.hyperparameters);
      const xs = inner.map((t) => t.hyperparameters[name]);
      const div = CB.el('div', {class: 'slice', 'data-hp': name});
      box.appendChild(div);
      const cat = categorical(xs);
      draw(div, [{type: 'scatter', mode: 'markers', x: cat ? xs.map(String) : xs, y: inner.map((t) => t.best_value),
        text: inner.map((t) => t.model_id), marker: {size: 8, color: inner.map((t) => t.id), colorscale: 'Blues',
          line: {color: '#333', width: 0.5}},
        hovertemplate: '<b>%{text}</b><br>' + name + ' = %{x}<br>' + st.exp.metric + ' = %{y:.4f}<extra></extra>'}],
      {title: {text: name, font: {size: 12}}, height: 260, margin: {l: 70, r: 10, t: 32, b: 40},
        xaxis: {type: cat ? 'category' : '-'}, yaxis: {title: {text: st.exp.metric}}});
    }
  };

  // The model-hopper schedule: one row per worker, one bar per visit.
  C.gantt = function (div, st, opts) {
    opts = opts || {};
    let visits = [...st.visits.values()].sort((a, b) => a.start_s - b.start_s);
    const total = visits.length;
    if (!total) return empty(div, 'No visit recorded yet.');
    const limit = opts.limit || 3000;
    if (visits.length > limit && !opts.all) visits = visits.slice(-limit);
    const now = st.now();
    const stuck = new Set(st.stuck.map((s) => s.visit_id));
    const traces = [];
    for (const kind of ['train', 'eval']) {
      const vs = visits.filter((v) => v.kind === kind);
      if (!vs.length) continue;
      const trial = (v) => st.trials.get(v.trial_id) || {model_id: '?'};
      traces.push({type: 'bar', orientation: 'h', name: kind,
        y: vs.map((v) => 'worker ' + v.worker), base: vs.map((v) => v.start_s),
        x: vs.map((v) => Math.max((v.end_s === null ? now : v.end_s) - v.start_s, 1e-3)),
        marker: {
          color: vs.map((v) => (opts.trial && v.trial_id !== opts.trial ? '#d8dee4'
            : v.status === 'lost' ? '#8c8c8c' : st.colourOf(v.trial_id))),
          opacity: kind === 'train' ? 1 : 0.6,
          line: {color: vs.map((v) => (stuck.has(v.id) ? '#d00' : v.end_s === null ? '#000' : '#fff')),
            width: vs.map((v) => (stuck.has(v.id) || v.end_s === null ? 2 : 0.5))},
          pattern: {shape: vs.map((v) => (v.status === 'lost' ? 'x' : v.end_s === null ? '/' : kind === 'eval' ? '.' : ''))}},
        customdata: vs.map((v) => [trial(v).model_id, kind, v.epoch, v.worker,
          CB.dur((v.end_s === null ? now : v.end_s) - v.start_s),
          v.end_s === null ? (stuck.has(v.id) ? 'STUCK, running' : 'running') : v.status === 'lost' ? 'lost (' + (LOST_LABELS[v.lost_reason] || v.lost_reason || '') + ')' : 'done',
          v.peak_rss_bytes ? ', peak ' + CB.bytes(v.peak_rss_bytes) : '']),
        hovertemplate: '<b>%{customdata[0]}</b><br>%{customdata[1]}, epoch %{customdata[2]}, partition %{customdata[3]}' +
          '<br>%{customdata[4]} (%{customdata[5]}%{customdata[6]})<extra></extra>'});
    }
    const workers = new Set(visits.map((v) => v.worker)).size;
    draw(div, traces, {barmode: 'overlay', bargap: 0.25, height: Math.max(220, 90 + 46 * workers),
      title: {text: (opts.title || 'Model hopper schedule') + (visits.length < total ? ' (latest ' + visits.length + ' of ' + total + ' visits)' : '')},
      xaxis: {title: {text: 'seconds since the experiment started'}},
      yaxis: {autorange: 'reversed', type: 'category',
        categoryorder: 'array', categoryarray: [...new Set(visits.map((v) => v.worker))].sort((a, b) => a - b).map((w) => 'worker ' + w)},
      legend: {orientation: 'h', x: 1, xanchor: 'right', y: 1.2}});
  };
})();
