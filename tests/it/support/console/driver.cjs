// Drives keyward's approvals console in headless Chromium with playwright-core, one command
// per line on stdin (JSON), one answer per line on stdout (JSON). Started by
// tests/it/support/browser.rs; KW_NODE_MODULES names where scripts/test installed
// playwright-core, KW_CONSOLE the console's URL.
'use strict';
const path = require('path');
const readline = require('readline');
const { chromium } = require(path.join(process.env.KW_NODE_MODULES, 'playwright-core'));

const WAIT = 15000;
const origin = new URL(process.env.KW_CONSOLE).origin;
const problems = [];
const elsewhere = [];

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.KW_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401|Unauthorized/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('request', (r) => { if (!r.url().startsWith(origin)) elsewhere.push(r.url()); });
  await page.goto(process.env.KW_CONSOLE);

  const card = (url) => page.locator('article.card', { hasText: url });
  const row = (agent) => page.locator(`#agents tr[data-agent="${agent}"]`);
  const commands = {
    async login({ token }) {
      await page.fill('#token', token);
      await page.click('#login-form button[type=submit]');
      await page.waitForFunction(() => !document.getElementById('console').hidden
        || !document.getElementById('login-error').hidden, null, { timeout: WAIT });
      return {
        signed_in: await page.isVisible('#console'),
        error: (await page.textContent('#login-error')) || '',
        who: (await page.textContent('#who')) || '',
      };
    },
    async view() {
      return {
        login_visible: await page.isVisible('#login'),
        console_visible: await page.isVisible('#console'),
        cards: await page.locator('article.card').count(),
        text: await page.evaluate(() => document.body.innerText),
      };
    },
    async fetch({ url, method, body }) {
      return page.evaluate(async ({ url, method, body }) => {
        const init = { method: method || 'GET', credentials: 'same-origin', headers: {} };
        if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
        const r = await fetch(url, init);
        return { status: r.status, body: await r.text() };
      }, { url, method, body });
    },
    async wait_card({ url }) {
      const c = card(url);
      await c.waitFor({ state: 'visible', timeout: WAIT });
      await c.locator('.waiting').filter({ hasText: /\d/ }).waitFor({ timeout: WAIT });
      return { text: await c.innerText(), body: await c.locator('pre.preview').innerText().catch(() => '') };
    },
    async approve({ url, window }) {
      const c = card(url);
      if (window) await c.locator('select.window').selectOption(window);
      await c.locator('button.approve').click();
      await c.waitFor({ state: 'detached', timeout: WAIT });
      return {};
    },
    async deny({ url, reason }) {
      const c = card(url);
      await c.locator('input.reason').fill(reason);
      await c.locator('button.deny').click();
      await c.waitFor({ state: 'detached', timeout: WAIT });
      return {};
    },
    async pause({ agent, reason }) {
      await row(agent).locator('input.reason').fill(reason);
      await row(agent).locator('button.pause').click();
      await row(agent).locator('button.resume').waitFor({ timeout: WAIT });
      return { state: await row(agent).locator('td.state').innerText() };
    },
    async resume({ agent }) {
      await row(agent).locator('button.resume').click();
      await row(agent).locator('button.pause').waitFor({ timeout: WAIT });
      return { state: await row(agent).locator('td.state').innerText() };
    },
    async feed({ agent, rule, decision, expect }) {
      await page.selectOption('#filter-agent', agent || '');
      await page.selectOption('#filter-rule', rule || '');
      await page.selectOption('#filter-decision', decision || '');
      // The feed is read every other poll; wait until it shows what the test expects.
      await page.waitForFunction((n) => document.querySelectorAll('#feed tbody tr').length === n,
        expect, { timeout: WAIT });
      const rows = await page.$$eval('#feed tbody tr', (trs) => trs.map((tr) =>
        [...tr.cells].map((td) => td.innerText)));
      return { rows };
    },
    async counts({ rule, decision, expect }) {
      await page.locator(`#rules tr[data-rule="${rule}"]`).waitFor({ timeout: WAIT });
      if (decision) {
        // Counters are read every poll: wait until the one the test expects shows.
        await page.waitForFunction(({ rule, decision, expect }) => {
          const td = document.querySelector(`#rules tr[data-rule="${rule}"] td.num.c-${decision}`);
          return td && Number(td.innerText) === expect;
        }, { rule, decision, expect }, { timeout: WAIT });
      }
      const cells = await page.$$eval(`#rules tr[data-rule="${rule}"] td.num`, (tds) =>
        Object.fromEntries(tds.map((td) => [td.classList[1].slice(2), Number(td.innerText)])));
      return { counts: cells };
    },
    async screenshot({ file, selector }) {
      await page.screenshot({ path: file, fullPage: true });
      const box = selector ? await page.locator(selector).first().boundingBox() : null;
      const size = await page.evaluate(() => ({
        width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
      }));
      return { box, size };
    },
    async logout() {
      await page.click('#logout');
      await page.locator('#login').waitFor({ state: 'visible', timeout: WAIT });
      return {};
    },
    async problems() { return { problems, elsewhere }; },
    async quit() { return {}; },
  };

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    let answer;
    try {
      answer = { ok: true, ...(await commands[cmd.do](cmd)) };
    } catch (e) {
      answer = { ok: false, error: String(e && e.message || e) };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
    if (cmd.do === 'quit') break;
  }
  await browser.close();
}

main().catch((e) => { process.stderr.write(`${e.stack || e}\n`); process.exit(1); });
