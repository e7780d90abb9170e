// The dashboard: live status over server-sent events (pipeline, training, feedback, with uPlot charts), and text
// generation from the serving policy. Every piece of model output is inserted as text, never as HTML.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const fmt = (n) => (n === undefined || n === null) ? '–' : Number(n).toLocaleString('en-US');
  let model = 'millrace'; // the served model, once the status names it
  const charts = {};

  /** Reads server-sent events from a fetch response body, calling onEvent(name, data) for each. */
  async function readEvents(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const lines = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        const name = (lines.find((l) => l.startsWith('event: ')) || 'event: message').slice(7);
        const data = lines.find((l) => l.startsWith('data: '));
        if (data) onEvent(name, JSON.parse(data.slice(6)));
      }
    }
  }

  /** The JSON error of a failed response, as an Error. */
  async function failure(res) {
    const body = await res.json().catch(() => ({}));
    const retry = res.headers.get('retry-after');
    return new Error((body.error || res.statusText) + (retry ? ' (retry in ' + retry + ' s)' : ''));
  }

  /** A uPlot chart in element id, or updated with new data when it exists. */
  function plot(id, series, data, opts) {
    const el = $(id);
    if (!window.uPlot || !el || el.offsetParent === null) return; // hidden: drawn when shown
    if (!charts[id]) {
      charts[id] = new uPlot(Object.assign({
        width: el.clientWidth || 600, height: 160, series: [{}].concat(series),
        legend: { show: true }, cursor: { drag: { x: false, y: false } },
      }, opts || {}), data, el);
    } else {
      charts[id].setData(data);
    }
  }

  let last = null;
  function render(s) {
    last = s;
    if (s.serving && s.serving.model) model = s.serving.model;
    // a chat model (fine-tuned with ./millrace sft) answers in turns: offered, and on by default, only for one
    const chat = !!(s.serving && s.serving.chat);
    if (chat && $('chat-label').hidden) $('chat').checked = true;
    $('chat-label').hidden = !chat;
    $('docs-in').textContent = fmt(s.documentsIn);
    $('docs-kept').textContent = fmt(s.documentsKept);
    const shards = s.shards || {}, tokens = s.tokens || {};
    $('shards').textContent = fmt(shards.train || 0) + ' / ' + fmt(shards.val || 0);
    $('tokens').textContent = fmt((tokens.train || 0) + (tokens.val || 0));
    const rejected = Object.entries(s.rejected || {}).map(([k, v]) => k + ' ' + fmt(v));
    $('rejected').textContent = rejected.length ? rejected.join(', ') : 'none';
    const ck = (s.checkpoint || {})[model];
    if (ck) {
      $('step').textContent = fmt(ck.step);
      $('loss').textContent = ck.trainLoss.toFixed(3);
      $('val-loss').textContent = ck.validationLoss == null ? '–' : ck.validationLoss.toFixed(3);
      $('tokens-seen').textContent = fmt(ck.tokensSeen);
      const losses = ((s.lossHistory || {})[model] || []).filter((p) => isFinite(p[1]));
      if (losses.length >= 2) {
        plot('loss-chart', [{ label: 'loss', stroke: '#2a6fdb', width: 2 }],
          [losses.map((p) => p[0]), losses.map((p) => p[1])], { scales: { x: { time: false } } });
      }
    }
    const ratings = s.ratings || { total: {}, perMinute: [] };
    const t = ratings.total || {};
    $('ratings-total').textContent = fmt(t.choice || 0) + ' / ' + fmt(t.score || 0) + ' / ' + fmt(t.edit || 0);
    const minutes = ratings.perMinute || [];
    if (minutes.length) {
      plot('ratings-chart', [
        { label: 'choices / min', stroke: '#2a6fdb', width: 2 },
        { label: 'scores / min', stroke: '#1d7a3a', width: 2 },
        { label: 'edits / min', stroke: '#b3261e', width: 2 },
      ], [minutes.map((m) => m[0] / 1000), minutes.map((m) => m[1]), minutes.map((m) => m[2]), minutes.map((m) => m[3])]);
    }
    // what this web replica answers with now (v0: the pretraining checkpoint, before any policy)
    const serving = s.serving;
    const policy = (s.policy || {})[model];
    $('policy-version').textContent = serving ? 'v' + serving.version + (serving.version === 0 ? ' (pretrained)' : '') : '–';
    $('ratings-applied').textContent = policy ? fmt(policy.ratingsApplied) : '0';
    $('serving').textContent = 'policy ' + (serving ? 'v' + serving.version : '–');
    const versions = (s.policyHistory || {})[model] || [];
    if (versions.length) {
      const xs = versions.map((p) => p[0] / 1000).concat([s.updatedAtMillis / 1000]);
      const ys = versions.map((p) => p[1]).concat([versions[versions.length - 1][1]]);
      plot('policy-chart', [{ label: 'policy version', stroke: '#7a3fb3', width: 2, paths: uPlot.paths.stepped({ align: 1 }) }],
        [xs, ys]);
    }
  }

  function connect() {
    const events = new EventSource('api/events');
    events.addEventListener('status', (e) => {
      $('connection').textContent = 'live';
      $('connection').className = 'pill live';
      render(JSON.parse(e.data));
    });
    events.onerror = () => { $('connection').textContent = 'reconnecting…'; $('connection').className = 'pill'; };
  }

  function show(view) {
    for (const b of document.querySelectorAll('nav .tab')) b.classList.toggle('active', b.dataset.view === view);
    $('view-dashboard').hidden = view !== 'dashboard';
    $('view-arena').hidden = view !== 'arena';
    if (view === 'dashboard' && last) render(last); // charts are drawn once their panel is visible
    if (location.hash !== '#' + view) history.replaceState(null, '', '#' + view);
  }
  for (const b of document.querySelectorAll('nav .tab')) b.addEventListener('click', () => show(b.dataset.view));

  $('generate-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = $('generate-button');
    const prompt = $('prompt').value;
    const chat = !$('chat-label').hidden && $('chat').checked;
    button.disabled = true;
    $('answer').textContent = '…';
    $('answer-meta').textContent = '';
    try {
      // streamed: the answer grows token by token (server-sent events on the POST's response)
      const res = await fetch('api/generate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          prompt,
          maxTokens: Number($('max-tokens').value),
          temperature: Number($('temperature').value),
          topK: Number($('top-k').value),
          topP: Number($('top-p').value),
          stream: true,
          chat,
        }),
      });
      if (!res.ok) throw await failure(res);
      const answer = $('answer');
      answer.textContent = '';
      const p = document.createElement('span');
      p.className = 'prompt';
      // a continuation follows its prompt; a chat answer is a turn of its own
      p.textContent = chat ? prompt + '\n\n' : prompt;
      const text = document.createTextNode('');
      answer.append(p, text);
      await readEvents(res, (event, data) => {
        if (event === 'token') text.textContent += data.text;
        else if (event === 'error') throw new Error(data.error);
        else if (event === 'done') {
          $('answer-meta').textContent = data.newTokens + ' tokens in ' + data.seconds.toFixed(2)
            + ' s from the checkpoint at step ' + data.checkpointStep + ' (policy v' + data.policyVersion + ')';
        }
      });
    } catch (err) {
      $('answer').replaceChildren();
      const span = document.createElement('span');
      span.className = 'error';
      span.textContent = String(err.message || err);
      $('answer').append(span);
    } finally {
      button.disabled = false;
    }
  });

  window.Millrace = { readEvents, failure };
  show(location.hash === '#arena' ? 'arena' : 'dashboard');
  fetch('api/status').then((r) => r.ok ? r.json() : null).then((s) => s && render(s)).catch(() => {});
  connect();
})();
