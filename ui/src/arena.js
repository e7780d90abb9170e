// The arena: a rater signs in with a token (kept for this tab only), asks for two answers to one prompt, watches both
// stream in side by side, and rates them — a choice (1–4), thumbs or 1–5 per answer, or an edited answer. A rating
// waits a few seconds before it is sent, so that u can take it back. Model output is always inserted as text.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const UNDO_MS = 3000;
  let token = sessionStorage.getItem('millrace.token');
  let comparison = null; // {comparisonId, prompt, answers}
  let staged = null; // the rating the rater is about to submit
  let pending = null; // {rating, timer}: submitted, not yet sent (undo window)
  let editing = null; // which answer's editor is open

  const auth = () => ({ authorization: 'Bearer ' + token });
  const status = (text, isError) => {
    $('arena-status').textContent = text;
    $('arena-status').className = isError ? 'meta error' : 'meta';
  };

  function randomKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  async function signIn(candidate) {
    $('signin-error').textContent = '';
    const res = await fetch('api/me', { headers: { authorization: 'Bearer ' + candidate } });
    if (!res.ok) {
      $('signin-error').textContent = res.status === 401 ? 'that token is not valid (or was revoked)' : (await window.Millrace.failure(res)).message;
      return signOut();
    }
    const me = await res.json();
    token = candidate;
    sessionStorage.setItem('millrace.token', token);
    $('rater-name').textContent = me.name;
    $('rater-count').textContent = me.ratings;
    $('signin-form').hidden = true;
    $('rater').hidden = false;
    $('arena').hidden = false;
  }

  function signOut() {
    token = null;
    sessionStorage.removeItem('millrace.token');
    $('signin-form').hidden = false;
    $('rater').hidden = true;
    $('arena').hidden = true;
  }

  async function refreshCount() {
    const res = await fetch('api/me', { headers: auth() });
    if (res.ok) $('rater-count').textContent = (await res.json()).ratings;
  }

  function stage(rating, label) {
    if (!comparison) return status('compare first: there is nothing to rate yet', true);
    staged = rating;
    for (const b of document.querySelectorAll('[data-choice],[data-score]')) b.classList.remove('picked');
    $('staged').textContent = 'to submit: ' + label + ' — Enter submits';
  }

  function closeEditors() {
    for (const i of [0, 1]) $('edit-' + i).hidden = true;
    editing = null;
  }

  function edit(answer) {
    if (!comparison) return status('compare first: there is nothing to edit yet', true);
    closeEditors();
    editing = answer;
    const box = $('edit-' + answer);
    box.value = comparison.answers[answer].text;
    box.hidden = false;
    box.focus();
    $('staged').textContent = 'editing answer ' + 'AB'[answer] + ' — Ctrl+Enter submits the correction, Esc cancels';
  }

  function submit() {
    let rating = staged;
    if (editing !== null) {
      const text = $('edit-' + editing).value;
      if (text === comparison.answers[editing].text) return status('the answer is unchanged: edit it first', true);
      rating = { answer: editing, editedAnswer: text };
    }
    if (!rating) return status('choose first (1–4, thumbs, 1–5 or an edit)', true);
    if (pending) {
      // one rating in the undo window at a time: a new one for the same comparison replaces it (the rater changed
      // their mind), one for another comparison lets it go now
      if (pending.body.comparisonId === comparison.comparisonId) {
        clearTimeout(pending.timer);
        pending = null;
      } else {
        send();
      }
    }
    const body = Object.assign({ comparisonId: comparison.comparisonId, idempotencyKey: randomKey() }, rating);
    pending = { body, timer: setTimeout(send, UNDO_MS) };
    staged = null;
    closeEditors();
    $('staged').textContent = '';
    status('sending in ' + UNDO_MS / 1000 + ' s — press u to undo');
  }

  function undo() {
    if (!pending) return status('nothing to undo', true);
    clearTimeout(pending.timer);
    pending = null;
    status('undone: nothing was sent');
  }

  let unsent = null; // a rating the server did not take after a few tries: r sends it again, with its key

  async function send(retry) {
    if (!pending && !retry) return;
    const body = retry || pending.body;
    if (pending) clearTimeout(pending.timer);
    pending = null;
    unsent = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      // the same idempotency key on every attempt: a rating the server already has is not counted twice
      const res = await fetch('api/ratings', {
        method: 'POST', headers: Object.assign({ 'content-type': 'application/json' }, auth()), body: JSON.stringify(body),
      }).catch(() => null);
      if (res && res.status === 202) {
        const r = await res.json();
        status('rated ✓ (' + r.id + (r.duplicate ? ', already recorded' : '') + ')');
        document.body.dataset.rated = String(Number(document.body.dataset.rated || 0) + 1);
        return refreshCount();
      }
      if (res && res.status === 401) { signOut(); return; }
      if (res && res.status < 500 && res.status !== 429) return status((await window.Millrace.failure(res)).message, true);
      const wait = Number((res && res.headers.get('retry-after')) || 1);
      await new Promise((r) => setTimeout(r, wait * 1000));
    }
    unsent = body;
    status('the rating could not be sent: press r to send it again', true);
  }

  async function compare() {
    const button = $('compare-button');
    button.disabled = true;
    comparison = null;
    staged = null;
    closeEditors();
    for (const i of [0, 1]) { $('answer-' + i).textContent = ''; $('version-' + i).textContent = ''; }
    $('staged').textContent = '';
    status('generating…');
    try {
      const res = await fetch('api/compare', {
        method: 'POST',
        headers: Object.assign({ 'content-type': 'application/json' }, auth()),
        body: JSON.stringify({
          prompt: $('arena-prompt').value,
          maxTokens: Number($('arena-max-tokens').value),
          temperature: Number($('arena-temperature').value),
          topK: 40, topP: 0.95, stream: true,
        }),
      });
      if (res.status === 401) return signOut();
      if (!res.ok) throw await window.Millrace.failure(res);
      const panes = [0, 1].map((i) => {
        const prompt = document.createElement('span');
        prompt.className = 'prompt';
        prompt.textContent = $('arena-prompt').value;
        const text = document.createTextNode('');
        $('answer-' + i).replaceChildren(prompt, text);
        return text;
      });
      await window.Millrace.readEvents(res, (event, data) => {
        if (event === 'start') {
          for (const i of [0, 1]) $('version-' + i).textContent = 'policy v' + data.policyVersion;
        } else if (event === 'token') {
          panes[data.answer].textContent += data.text;
        } else if (event === 'error') {
          throw new Error(data.error);
        } else if (event === 'done') {
          comparison = data;
          for (const i of [0, 1]) $('version-' + i).textContent = 'policy v' + data.answers[i].policyVersion;
          status('rate it: 1 A better, 2 B better, 3 tie, 4 both bad; thumbs or 1–5; e/E edit; Enter submits');
        }
      });
      if (!comparison) throw new Error('the answers ended before they were complete: compare again');
    } catch (err) {
      status(String(err.message || err), true);
    } finally {
      button.disabled = false;
    }
  }

  $('signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn($('token').value.trim()); });
  $('signout-button').addEventListener('click', signOut);
  $('compare-form').addEventListener('submit', (e) => { e.preventDefault(); compare(); });
  $('suggestions').addEventListener('change', (e) => { if (e.target.value) $('arena-prompt').value = e.target.value; });
  $('submit-rating').addEventListener('click', submit);
  for (const b of document.querySelectorAll('[data-choice]')) {
    b.addEventListener('click', () => { stage({ choice: b.dataset.choice }, b.textContent); b.classList.add('picked'); });
  }
  for (const b of document.querySelectorAll('[data-score]')) {
    const answer = Number(b.closest('.side').dataset.answer);
    b.addEventListener('click', () => {
      stage({ answer, score: Number(b.dataset.score), scale: b.dataset.scale },
        'answer ' + 'AB'[answer] + ': ' + (b.dataset.scale === 'THUMBS' ? (b.dataset.score === '1' ? 'thumbs up' : 'thumbs down') : b.dataset.score + ' of 5'));
      b.classList.add('picked');
    });
  }
  for (const b of document.querySelectorAll('[data-edit]')) b.addEventListener('click', () => edit(Number(b.dataset.edit)));

  document.addEventListener('keydown', (e) => {
    if ($('view-arena').hidden || !token) return;
    const inEditor = e.target.classList && e.target.classList.contains('edit');
    if (inEditor) {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); submit(); }
      if (e.key === 'Escape') { closeEditors(); $('staged').textContent = ''; }
      return;
    }
    if (['INPUT', 'TEXTAREA', 'SELECT'].includes(e.target.tagName)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return; // the browser's own shortcuts
    const choices = { Digit1: 'A', Digit2: 'B', Digit3: 'TIE', Digit4: 'BOTH_BAD' };
    if (choices[e.code]) {
      document.querySelector('[data-choice="' + choices[e.code] + '"]').click();
    } else if (e.code === 'KeyE') {
      e.preventDefault();
      edit(e.shiftKey ? 1 : 0);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      submit();
    } else if (e.code === 'KeyU') {
      undo();
    } else if (e.code === 'KeyR' && unsent) {
      send(unsent);
    }
  });

  if (token) signIn(token);
})();
