// Live status over server-sent events, and text generation from the newest checkpoint.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const fmt = (n) => (n === undefined || n === null) ? '–' : Number(n).toLocaleString('en-US');
  let losses = []; // [step, loss] per checkpoint

  function render(s) {
    $('docs-in').textContent = fmt(s.documentsIn);
    $('docs-kept').textContent = fmt(s.documentsKept);
    const shards = s.shards || {}, tokens = s.tokens || {};
    $('shards').textContent = fmt(shards.train || 0) + ' / ' + fmt(shards.val || 0);
    $('tokens').textContent = fmt((tokens.train || 0) + (tokens.val || 0));
    const rejected = Object.entries(s.rejected || {}).map(([k, v]) => k + ' ' + fmt(v));
    $('rejected').textContent = rejected.length ? rejected.join(', ') : 'none';
    const ck = (s.checkpoint || {}).millrace;
    if (ck) {
      $('step').textContent = fmt(ck.step);
      $('loss').textContent = ck.trainLoss.toFixed(3);
      $('val-loss').textContent = ck.validationLoss == null ? '–' : ck.validationLoss.toFixed(3);
      $('tokens-seen').textContent = fmt(ck.tokensSeen);
      losses = ((s.lossHistory || {}).millrace || []).filter((p) => isFinite(p[1]));
      chart();
    }
  }

  function chart() {
    const svg = $('loss-chart');
    if (losses.length < 2) return;
    const xs = losses.map((p) => p[0]), ys = losses.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const pts = losses.map(([x, y]) => [600 * (x - x0) / Math.max(1, x1 - x0), 130 - 120 * (y - y0) / Math.max(1e-9, y1 - y0)]);
    svg.innerHTML = '<polyline points="' + pts.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' ') + '"/>'
      + '<text x="4" y="12">' + y1.toFixed(2) + '</text><text x="4" y="136">' + y0.toFixed(2) + '</text>';
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

  $('generate-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = $('generate-button');
    const prompt = $('prompt').value;
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
        }),
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new Error(body.error || res.statusText);
      }
      const answer = $('answer');
      answer.textContent = '';
      const p = document.createElement('span');
      p.className = 'prompt';
      p.textContent = prompt;
      const text = document.createTextNode('');
      answer.append(p, text);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const lines = buffer.slice(0, end).split('\n');
          buffer = buffer.slice(end + 2);
          const event = lines[0].replace('event: ', '');
          const data = JSON.parse(lines[1].replace('data: ', ''));
          if (event === 'token') text.textContent += data.text;
          else if (event === 'error') throw new Error(data.error);
          else if (event === 'done') {
            $('answer-meta').textContent = data.newTokens + ' tokens in ' + data.seconds.toFixed(2) + ' s from the checkpoint at step ' + data.checkpointStep;
          }
        }
      }
    } catch (err) {
      $('answer').innerHTML = '';
      const span = document.createElement('span');
      span.className = 'error';
      span.textContent = String(err.message || err);
      $('answer').append(span);
    } finally {
      button.disabled = false;
    }
  });

  fetch('api/status').then((r) => r.ok ? r.json() : null).then((s) => s && render(s)).catch(() => {});
  connect();
})();
