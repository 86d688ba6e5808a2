// keyward's approvals console: signs in with a token, then polls the console API and
// renders what it returns. Every value from the API is put in the page as text (never as
// markup): requests are the agents', and agents are not trusted.
'use strict';

(() => {
  const POLL_MS = 1000;
  const DECISIONS = ['allow', 'deny', 'approve', 'rate_limited', 'error'];
  const $ = (id) => document.getElementById(id);
  let csrf = null;
  let timer = null;
  let tick = 0;

  // An element with attributes and children (strings become text nodes).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = String(value);
      else if (key.includes('-') || key === 'role') node.setAttribute(key, String(value));
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function show(node, on) { node.hidden = !on; }

  function message(node, text) {
    node.textContent = text || '';
    show(node, Boolean(text));
  }

  class SignedOut extends Error {}

  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (method !== 'GET') {
      init.headers['Content-Type'] = 'application/json';
      if (csrf) init.headers['X-Keyward-Csrf'] = csrf;
      init.body = JSON.stringify(body || {});
    }
    const resp = await fetch(path, init);
    let data = null;
    try { data = await resp.json(); } catch (_) { data = null; }
    if (resp.status === 401 && path !== '/console/login') throw new SignedOut();
    if (!resp.ok) throw new Error((data && data.error) || `${resp.status} ${resp.statusText}`);
    return data;
  }

  function duration(secs) {
    secs = Math.max(0, Math.floor(secs));
    if (secs < 60) return `${secs}s`;
    const m = Math.floor(secs / 60);
    if (m < 60) return `${m}m ${secs % 60}s`;
    return `${Math.floor(m / 60)}h ${m % 60}m`;
  }

  function pretty(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text; }
  }

  function showLogin() {
    csrf = null;
    if (timer) { clearInterval(timer); timer = null; }
    show($('console'), false);
    show($('logout'), false);
    $('who').textContent = '';
    $('pending').replaceChildren();
    show($('login'), true);
    $('token').focus();
  }

  function showConsole(state) {
    show($('login'), false);
    show($('console'), true);
    show($('logout'), true);
    $('who').textContent = `signed in as ${state.who}`;
    if (!timer) timer = setInterval(refresh, POLL_MS);
  }

  // ---- pending approvals ----

  function detail(list, term, value) {
    if (value === undefined || value === null || value === '') return;
    list.append(el('dt', { text: term }), el('dd', {}, value));
  }

  function card(item) {
    const fields = el('dl', { class: 'fields' });
    detail(fields, 'Agent', item.agent || '(none)');
    const rule = el('span', {}, el('code', { text: item.rule }));
    if (item.description) rule.append(` — ${item.description}`);
    detail(fields, 'Rule', rule);
    if (item.action) detail(fields, 'Action', el('code', { text: item.action }));
    detail(fields, 'Headers', (item.headers || []).join(', ') || '(none)');
    detail(fields, 'Waiting', el('span', { class: 'waiting' }));
    detail(fields, 'Times out in', el('span', { class: 'timeout' }));
    if (item.mcp) {
      const what = item.mcp.tool || item.mcp.resource || '';
      detail(fields, 'MCP call', `${item.mcp.method} ${what}${item.mcp.batch ? ` (batch of ${item.mcp.batch})` : ''}`);
    }
    if (item.graphql) {
      const op = item.graphql;
      detail(fields, 'GraphQL', `${op.operation || 'persisted'} ${op.name || ''} { ${(op.fields || []).join(', ')} }`);
    }
    const blocks = [];
    if (item.mcp && item.mcp.arguments !== undefined) {
      blocks.push(el('h4', { text: 'Arguments' }), el('pre', { class: 'body', text: JSON.stringify(item.mcp.arguments, null, 2) }));
    }
    if (item.graphql && item.graphql.variables !== undefined) {
      blocks.push(el('h4', { text: 'Variables' }), el('pre', { class: 'body', text: JSON.stringify(item.graphql.variables, null, 2) }));
    }
    if (item.action_input !== undefined && item.action_input !== null) {
      blocks.push(el('h4', { text: 'Action input' }), el('pre', { class: 'body', text: JSON.stringify(item.action_input, null, 2) }));
    }
    if (item.body_preview) {
      blocks.push(el('h4', { text: 'Body (redacted preview)' }), el('pre', { class: 'body preview', text: pretty(item.body_preview) }));
    }
    const windowChoice = el('select', { class: 'window', 'aria-label': 'Approve for' },
      el('option', { value: 'once', text: 'once' }),
      el('option', { value: '5m', text: 'and for 5 minutes' }),
      el('option', { value: '15m', text: 'and for 15 minutes' }),
      el('option', { value: '1h', text: 'and for 1 hour' }),
      el('option', { value: '8h', text: 'and for 8 hours' }));
    const approve = el('button', { type: 'button', class: 'approve', text: 'Approve' });
    const reason = el('input', { type: 'text', class: 'reason', placeholder: 'Reason for denying' });
    const deny = el('button', { type: 'button', class: 'deny danger', text: 'Deny' });
    const error = el('p', { class: 'error card-error', role: 'alert', hidden: true });
    const node = el('article', { class: 'card', 'data-id': item.id },
      el('header', {}, el('span', { class: 'method', text: item.method }), ' ', el('span', { class: 'url', text: item.url })),
      fields, ...blocks,
      el('div', { class: 'actions' },
        el('span', { class: 'group' }, approve, windowChoice),
        el('span', { class: 'group' }, reason, deny)),
      error);
    const answer = async (path, body) => {
      approve.disabled = true; deny.disabled = true;
      try {
        await api('POST', path, body);
        node.remove();
        refresh();
      } catch (e) {
        if (e instanceof SignedOut) return showLogin();
        message(error, e.message);
        approve.disabled = false; deny.disabled = false;
      }
    };
    const id = encodeURIComponent(item.id);
    approve.addEventListener('click', () => answer(`/console/api/approvals/${id}/approve`,
      windowChoice.value === 'once' ? {} : { for: windowChoice.value }));
    deny.addEventListener('click', () => answer(`/console/api/approvals/${id}/deny`,
      reason.value.trim() ? { reason: reason.value.trim() } : {}));
    return node;
  }

  function renderPending(state) {
    const list = state.pending || [];
    const box = $('pending');
    const seen = new Set();
    for (const item of list) {
      seen.add(item.id);
      let node = box.querySelector(`article[data-id="${CSS.escape(item.id)}"]`);
      if (!node) { node = card(item); box.append(node); }
      node.querySelector('.waiting').textContent = duration(item.waiting_secs);
      node.querySelector('.timeout').textContent = duration(item.times_out_in_secs);
    }
    for (const node of [...box.children]) {
      if (!seen.has(node.getAttribute('data-id'))) node.remove();
    }
    $('pending-count').textContent = String(list.length);
    show($('pending-empty'), list.length === 0 && !state.pending_error);
    message($('pending-error'), state.pending_error ? `Pending approvals cannot be read: ${state.pending_error}` : '');
  }

  // ---- agents and the kill switch ----

  function pauseText(p) {
    return `paused by ${p.by}${p.reason ? `: ${p.reason}` : ''}`;
  }

  async function change(path, body, errorNode) {
    try {
      await api('POST', path, body);
      message(errorNode, '');
      refresh();
    } catch (e) {
      if (e instanceof SignedOut) return showLogin();
      message(errorNode, e.message);
    }
  }

  function renderAgents(state) {
    const all = state.agents.all;
    message($('all-paused'), all ? `All agents are ${pauseText(all)}` : '');
    const rows = (state.agents.agents || []).map((a) => {
      const own = a.pause;
      const status = own ? pauseText(own) : (all ? 'paused (all agents)' : 'running');
      const reason = el('input', { type: 'text', class: 'reason', placeholder: 'Reason', 'aria-label': `Reason for pausing ${a.name}` });
      const name = encodeURIComponent(a.name);
      const button = own
        ? el('button', { type: 'button', class: 'resume', text: 'Resume' })
        : el('button', { type: 'button', class: 'pause danger', text: 'Pause' });
      button.addEventListener('click', () => own
        ? change(`/console/api/agents/${name}/resume`, {}, $('agents-error'))
        : change(`/console/api/agents/${name}/pause`, reason.value.trim() ? { reason: reason.value.trim() } : {}, $('agents-error')));
      return el('tr', { 'data-agent': a.name, class: a.paused ? 'paused' : '' },
        el('td', {}, el('code', { text: a.name })),
        el('td', { class: 'state', text: status }),
        el('td', {}, own ? null : reason, button));
    });
    const body = $('agents').tBodies[0];
    // Rebuilt only when it changed, so a reason being typed is not lost.
    const key = JSON.stringify(state.agents);
    if (body.dataset.key !== key) { body.replaceChildren(...rows); body.dataset.key = key; }
  }

  // ---- feed and counters ----

  function options(select, values) {
    const current = select.value;
    const want = ['', ...values];
    const have = [...select.options].map((o) => o.value);
    if (JSON.stringify(want) === JSON.stringify(have)) return;
    select.replaceChildren(...want.map((v) => el('option', { value: v, text: v || 'any' })));
    select.value = want.includes(current) ? current : '';
  }

  function renderRules(state) {
    const rules = state.rules || [];
    options($('filter-rule'), rules.map((r) => r.rule));
    options($('filter-agent'), (state.agents.agents || []).map((a) => a.name));
    $('rules').tBodies[0].replaceChildren(...rules.map((r) => el('tr', { 'data-rule': r.rule },
      el('td', {}, el('code', { text: r.rule }), r.description ? el('div', { class: 'desc', text: r.description }) : null),
      ...DECISIONS.map((d) => el('td', { class: `num c-${d}`, text: String(r.counts[d] || 0) })))));
  }

  async function refreshFeed() {
    const params = new URLSearchParams();
    for (const key of ['agent', 'rule', 'decision']) {
      const v = $(`filter-${key}`).value;
      if (v) params.set(key, v);
    }
    const data = await api('GET', `/console/api/decisions?${params}`);
    message($('feed-note'), data.audit_log ? (data.entries.length ? '' : 'No decisions match.') : 'The audit log is off: there is no feed.');
    $('feed').tBodies[0].replaceChildren(...data.entries.map((e) => el('tr', { 'data-request': e.request_id, class: `d-${e.decision}` },
      el('td', { text: (e.time || '').replace('T', ' ').replace(/\.\d+Z$/, 'Z') }),
      el('td', { class: 'agent', text: e.agent || '-' }),
      el('td', {}, el('span', { class: `badge ${e.decision}`, text: e.mode === 'enforce' ? e.decision : `${e.decision} (${e.mode})` })),
      el('td', { class: 'url' }, `${e.method} ${e.url}`),
      el('td', { text: e.status === null || e.status === undefined ? '-' : String(e.status) }),
      el('td', {}, e.rule ? el('code', { text: e.rule }) : '-'),
      el('td', { class: 'reason', text: [e.reason, e.approved_by ? `answered by ${e.approved_by}` : ''].filter(Boolean).join(' · ') }))));
  }

  async function refresh() {
    try {
      const state = await api('GET', '/console/api/state');
      csrf = state.csrf;
      showConsole(state);
      renderPending(state);
      renderAgents(state);
      renderRules(state);
      if (tick++ % 2 === 0) await refreshFeed();
      $('status').textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      if (e instanceof SignedOut) return showLogin();
      $('status').textContent = `cannot reach keyward: ${e.message}`;
    }
  }

  async function login(event) {
    event.preventDefault();
    const token = $('token').value;
    $('token').value = '';
    try {
      const data = await api('POST', '/console/login', { token });
      csrf = data.csrf;
      message($('login-error'), '');
      tick = 0;
      await refresh();
    } catch (e) {
      message($('login-error'), e.message);
    }
  }

  async function logout() {
    try { await api('POST', '/console/logout', {}); } catch (_) { /* signed out anyway */ }
    showLogin();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    $('pause-all').addEventListener('click', () => {
      const reason = $('pause-all-reason').value.trim();
      change('/console/api/agents/pause', reason ? { reason } : {}, $('agents-error'));
    });
    $('resume-all').addEventListener('click', () => change('/console/api/agents/resume', {}, $('agents-error')));
    $('feed-filter').addEventListener('change', () => { refreshFeed().catch((e) => { $('status').textContent = e.message; }); });
    $('feed-filter').addEventListener('submit', (e) => e.preventDefault());
    refresh();
  });
})();
