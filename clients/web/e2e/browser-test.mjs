// Browser test in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): register, log a workout, and watch its recommendation
// appear live in the feed without a reload; import a real FIT file and see
// its route, charts, splits and records; then the offline GraphiQL loads
// with no request leaving the machine. Screenshots go to e2e/artifacts/.
//
//   node e2e/browser-test.mjs <app-url> <router-graphql-url>
//
// Run by tests/e2e/web_app.rs against a real stack (router + subgraphs +
// worker), which restarts the router when this prints RESTART-ROUTER and
// answers RESTARTED on stdin.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync, strFromU8 } from 'fflate';
import { chromium } from 'playwright-core';

const [appUrl, apiUrl] = process.argv.slice(2);
if (!appUrl || !apiUrl) {
  console.error('usage: browser-test.mjs <app-url> <router-graphql-url>');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, 'artifacts');
const fixtures = join(here, '../../../subgraphs/activity/tests/fixtures/import');
await mkdir(artifacts, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// Lines the Rust side writes to our stdin.
const lines = [];
const waiting = [];
process.stdin.setEncoding('utf8');
let buffered = '';
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let end;
  while ((end = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, end).trim();
    buffered = buffered.slice(end + 1);
    const next = waiting.shift();
    if (next) next(line);
    else lines.push(line);
  }
});
async function waitForLine(expected) {
  const line = lines.length ? lines.shift() : await new Promise((resolve) => waiting.push(resolve));
  check(line === expected, `expected ${expected} on stdin, got ${line}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const external = [];
  await context.route('**/*', (route) => {
    const { hostname } = new URL(route.request().url());
    if (hostname === '127.0.0.1' || hostname === 'localhost') return route.continue();
    external.push(route.request().url());
    return route.abort();
  });

  // A crafted link cannot point the app (and the password typed into it)
  // at another server: `?api=` outside the allowed origins is ignored.
  const crafted = await context.newPage();
  await crafted.goto(`${appUrl}?api=${encodeURIComponent('https://evil.example/graphql')}`);
  await crafted.waitForSelector('text=Ignored ?api=https://evil.example/graphql');
  await crafted.fill('input[name=email]', 'victim@example.com');
  await crafted.fill('input[name=password]', 'correct horse battery');
  await crafted.click('button[name=login]');
  await crafted.waitForTimeout(1000);
  check(external.length === 0, `the crafted endpoint was called: ${external.join(', ')}`);
  check(
    (await crafted.evaluate(() => localStorage.getItem('fittrack.api'))) === null,
    'the crafted endpoint must not be remembered',
  );
  await crafted.screenshot({ path: join(artifacts, '0-crafted-api-refused.png') });
  await crafted.close();

  // Register.
  const feed = await context.newPage();
  feed.on('pageerror', (error) => console.error('page error:', error.message));
  await feed.goto(`${appUrl}?api=${encodeURIComponent(apiUrl)}`);
  const email = `browser-${Date.now()}@example.com`;
  await feed.fill('input[name=email]', email);
  await feed.fill('input[name=password]', 'correct horse battery');
  await feed.screenshot({ path: join(artifacts, '1-sign-up.png') });
  await feed.click('button[name=register]');
  await feed.waitForSelector('nav', { timeout: 10_000 });

  // The feed is open (live subscription) in one tab …
  await feed.click('button[data-screen=feed]');
  await feed.waitForSelector('text=Coach feed');
  await feed.waitForTimeout(1000);
  check((await feed.locator('.recommendation').count()) === 0, 'feed should start empty');

  // … while another tab (same session) logs a workout.
  const logger = await context.newPage();
  await logger.goto(appUrl);
  await logger.waitForSelector('form button[name=log]');
  await logger.selectOption('select[name=type]', 'RUNNING');
  await logger.fill('input[name=durationMinutes]', '42');
  await logger.fill('input[name=caloriesBurned]', '400');
  await logger.click('button[name=log]');
  await logger.waitForSelector('text=Logged running for 42 min', { timeout: 10_000 });
  await logger.screenshot({ path: join(artifacts, '2-logged.png') });

  // The recommendation appears in the first tab without a reload.
  await feed.waitForSelector('.recommendation .summary', { timeout: 20_000 });
  const summary = await feed.textContent('.recommendation .summary');
  check(summary && summary.length > 10, `recommendation text: ${summary}`);
  // The run is the longest so far: a new record, pushed live too.
  await feed.waitForSelector('li.new-record[data-record=LONGEST_DURATION] >> text=Your first.', { timeout: 20_000 });
  await feed.screenshot({ path: join(artifacts, '3-live-recommendation.png') });

  // The router is killed and started again (by the Rust side, asked on
  // stdout, answering on stdin): the feed reconnects and resubscribes by
  // itself, and the next workout's recommendation arrives without a reload.
  console.log('RESTART-ROUTER');
  await waitForLine('RESTARTED');
  await logger.selectOption('select[name=type]', 'RUNNING');
  await logger.fill('input[name=durationMinutes]', '25');
  await logger.fill('input[name=caloriesBurned]', '250');
  await logger.click('button[name=log]');
  await logger.waitForSelector('text=Logged running for 25 min', { timeout: 20_000 });
  await feed.waitForFunction(() => document.querySelectorAll('.recommendation').length === 2, null, {
    timeout: 30_000,
  });
  await feed.screenshot({ path: join(artifacts, '3b-after-router-restart.png') });

  // History and stats.
  await logger.click('button[data-screen=history]');
  await logger.waitForSelector('[data-stat=count]');
  check((await logger.textContent('[data-stat=count]')) === '2', 'two workouts in the stats');
  check((await logger.locator('ul.activities li').count()) === 2, 'two workouts listed');
  await logger.screenshot({ path: join(artifacts, '4-history.png') });

  // Today's plan.
  await logger.click('button[data-screen=plan]');
  await logger.click('button[name=generate]');
  await logger.waitForSelector('.plan h3', { timeout: 10_000 });
  await logger.screenshot({ path: join(artifacts, '5-plan.png') });

  // Importing a real FIT file (a Garmin fēnix 5 ride): dropped into the
  // import page, uploaded in chunks, followed live until it is read; then
  // its page shows the route, the charts, the splits and the records it set.
  await logger.click('button[data-screen=import]');
  await logger.setInputFiles('input[name=files]', join(fixtures, 'garmin-fenix-5-bike.fit'));
  await logger.waitForSelector('text=Done: 1 imported, 0 already here, 0 refused.', { timeout: 20_000 });
  check(
    (await logger.getAttribute('tr[data-file="garmin-fenix-5-bike.fit"]', 'data-state')) === 'READ',
    'the file is read',
  );
  await logger.screenshot({ path: join(artifacts, '6-imported.png') });
  await logger.click('li[data-outcome=IMPORTED] button[name=open-activity]');
  await logger.waitForSelector('svg.route path.route-line', { timeout: 10_000 });
  // The fēnix recorded its UTC offset: the ride's local time is shown.
  check(
    /\((Etc\/GMT[+-]\d+|UTC)\)/.test((await logger.textContent('.activity-page h3')) ?? ''),
    `local time: ${await logger.textContent('.activity-page h3')}`,
  );
  const route = await logger.getAttribute('svg.route path.route-line', 'd');
  check((route?.match(/L/g) ?? []).length >= 10, `the route has its points: ${route}`);
  await logger.waitForSelector('[data-chart=speed] canvas');
  await logger.waitForSelector('[data-chart=elevation] canvas');
  check((await logger.locator('table.splits tr').count()) >= 2, 'a splits table with a split');
  check(
    (await logger.textContent('[data-fact=distance]')) === '0.46 km',
    `distance: ${await logger.textContent('[data-fact=distance]')}`,
  );
  await logger.waitForSelector('[data-record=LONGEST_RIDE]');
  // The chart's legend reads out the value under the cursor.
  const over = logger.locator('[data-chart=speed] .u-over');
  const box = await over.boundingBox();
  await over.hover({ position: { x: box.width / 2, y: box.height / 2 } });
  await logger.waitForFunction(
    () => /km\/h$/.test(document.querySelector('[data-chart=speed] .u-series:nth-child(2) .u-value')?.textContent ?? ''),
    null,
    { timeout: 5_000 },
  );
  await logger.screenshot({ path: join(artifacts, '7-activity-page.png'), fullPage: true });
  // Miles: the same page in imperial units.
  await logger.selectOption('select[name=units]', 'imperial');
  await logger.waitForSelector('[data-fact=distance]:has-text("0.29 mi")');
  await logger.selectOption('select[name=units]', 'metric');
  await logger.click('button[data-screen=records]');
  await logger.waitForSelector('table.records tr[data-record=LONGEST_RIDE]');
  await logger.screenshot({ path: join(artifacts, '8-records.png') });

  // A weekly goal of two workouts, reached by the two runs logged above;
  // a bad target is refused with its reason.
  await logger.click('button[data-screen=goals]');
  await logger.waitForSelector('text=No goals yet.');
  await logger.selectOption('select[name=goal-metric]', 'COUNT');
  await logger.fill('input[name=goal-target]', '2.5');
  await logger.click('button[name=add-goal]');
  await logger.waitForSelector('text=whole number of workouts');
  await logger.fill('input[name=goal-target]', '2');
  await logger.click('button[name=add-goal]');
  await logger.waitForSelector('li.goal[data-achieved=true]');
  check(
    (await logger.textContent('li.goal strong'))?.includes('2 workouts of 2 workouts'),
    `goal progress: ${await logger.textContent('li.goal strong')}`,
  );
  await logger.screenshot({ path: join(artifacts, '8b-goals.png') });

  // Gear: new shoes, put on the imported ride from its page; the gear page
  // then counts its distance, and retiring keeps it.
  await logger.click('button[data-screen=gear]');
  await logger.waitForSelector('text=No gear yet.');
  await logger.fill('input[name=gear-name]', 'Allez Sprint');
  await logger.selectOption('select[name=gear-kind]', 'BIKE');
  await logger.click('button[name=add-gear]');
  await logger.waitForSelector('li.gear-item[data-retired=false]');
  await logger.click('button[data-screen=records]');
  await logger.click('table.records tr[data-record=LONGEST_RIDE] button');
  await logger.waitForSelector('select[name=activity-gear] option:has-text("Allez Sprint")', { state: 'attached' });
  await logger.selectOption('select[name=activity-gear]', { label: 'Allez Sprint' });
  await logger.waitForSelector('.gear-picker >> text=Saved.');
  await logger.click('button[data-screen=gear]');
  await logger.waitForSelector('li.gear-item >> text=0.46 km');
  check(
    (await logger.textContent('li.gear-item'))?.includes('1 workouts'),
    `gear: ${await logger.textContent('li.gear-item')}`,
  );
  // Edited in place: renamed, made the default for rides, a limit set.
  await logger.click('button[name=edit-gear]');
  check((await logger.inputValue('input[name=gear-name]')) === 'Allez Sprint', 'the form holds the gear');
  await logger.fill('input[name=gear-name]', 'Allez Sprint Disc');
  await logger.selectOption('select[name=gear-default]', ['CYCLING']);
  await logger.fill('input[name=gear-warn]', '5000');
  await logger.click('button[name=save-gear]');
  await logger.waitForSelector('li.gear-item >> text=Allez Sprint Disc');
  await logger.waitForSelector('li.gear-item >> text=Default for cycling');
  check((await logger.locator('li.gear-item').count()) === 1, 'edited, not added');
  await logger.click('button[name=retire-gear]');
  await logger.waitForSelector('li.gear-item[data-retired=true]');
  await logger.screenshot({ path: join(artifacts, '8c-gear.png') });

  // Heart-rate zones come from the training profile: none until it has a
  // maximum, then the ride's time in each zone.
  await logger.click('button[data-screen=records]');
  await logger.click('table.records tr[data-record=LONGEST_RIDE] button');
  await logger.waitForSelector('.zones >> text=Set your maximum heart rate');
  await logger.click('button[data-screen=account]');
  await logger.fill('input[name=max-heart-rate]', '190');
  await logger.fill('input[name=resting-heart-rate]', '50');
  await logger.click('button[name=save-profile]');
  await logger.waitForSelector('text=Saved: heart-rate zones now use these.');
  await logger.click('button[data-screen=records]');
  await logger.click('table.records tr[data-record=LONGEST_RIDE] button');
  await logger.waitForSelector('table.zones');
  check((await logger.locator('table.zones tr').count()) === 6, 'five zones and a heading');
  // Zones of the user's own: five rising rates; a wrong set is refused.
  await logger.click('button[data-screen=account]');
  for (const [zone, floor] of [[1, '110'], [2, '130'], [3, '145'], [4, '160'], [5, '150']]) {
    await logger.fill(`input[name=zone-${zone}-floor]`, floor);
  }
  await logger.click('button[name=save-profile]');
  await logger.waitForSelector('form >> text=each above the last');
  await logger.fill('input[name=zone-5-floor]', '175');
  await logger.click('button[name=save-profile]');
  await logger.waitForSelector('text=Saved: heart-rate zones now use these.');
  await logger.click('button[data-screen=records]');
  await logger.click('table.records tr[data-record=LONGEST_RIDE] button');
  await logger.waitForSelector('table.zones');
  const firstZone = await logger.textContent('table.zones tr:nth-child(2)');
  check(firstZone?.includes('110 bpm') && firstZone.includes('130 bpm'), `own zone 1: ${firstZone}`);
  const lastZone = await logger.textContent('table.zones tr:nth-child(6)');
  check(lastZone?.includes('175 bpm') && lastZone.includes('190 bpm'), `own zone 5 up to the maximum: ${lastZone}`);

  // The whole history as one zip: the workouts as JSON, and the imported
  // ride's file byte for byte.
  await logger.click('button[data-screen=account]');
  const [download] = await Promise.all([
    logger.waitForEvent('download'),
    logger.click('button[name=download-history]'),
  ]);
  const archive = unzipSync(new Uint8Array(await readFile(await download.path())));
  const workouts = JSON.parse(strFromU8(archive['activities.json']));
  const account = JSON.parse(strFromU8(archive['account.json']));
  check(account.me?.email, `the account in account.json: ${JSON.stringify(account).slice(0, 300)}`);
  const ride = workouts.find((w) => w.type === 'CYCLING');
  check(ride, `the ride in activities.json: ${JSON.stringify(workouts).slice(0, 300)}`);
  const kept = archive[`originals/${ride.id}/garmin-fenix-5-bike.fit`];
  const fit = new Uint8Array(await readFile(join(fixtures, 'garmin-fenix-5-bike.fit')));
  check(kept && Buffer.from(kept).equals(Buffer.from(fit)), `the ride's file, byte for byte: ${Object.keys(archive)}`);
  await logger.waitForSelector('text=original files.');

  // The admin dashboard, for an admin session (given by the Rust test).
  if (process.env.FITTRACK_ADMIN_SESSION) {
    const admin = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    await admin.addInitScript((session) => {
      localStorage.setItem('fittrack.session', session);
    }, process.env.FITTRACK_ADMIN_SESSION);
    const page = await admin.newPage();
    await page.goto(`${appUrl}?api=${encodeURIComponent(apiUrl)}`);
    await page.click('button[data-screen=admin]');
    await page.waitForSelector('[data-tile=users] strong', { timeout: 10_000 });
    const users = Number(await page.textContent('[data-tile=users] strong'));
    check(users >= 2, `dashboard users: ${users}`);
    const owed = await page.textContent('[data-tile=erasures] strong');
    check(owed === '0', `erasures owed: ${owed}`);
    await page.screenshot({ path: join(artifacts, '9-admin-dashboard.png') });
    await admin.close();
  }

  // Signing out ends the session on the server, not only in the browser.
  const loggedOut = logger.waitForRequest((r) => (r.postData() ?? '').includes('mutation Logout'));
  await logger.click('button[name=signout]');
  await loggedOut;
  await logger.waitForSelector('button[name=register]');

  // Signing in again presents the device token this browser got at sign-up
  // (kept across the sign-out): a guessing attack never locks it out.
  const device = await logger.evaluate(
    () => Object.values(JSON.parse(localStorage.getItem('fittrack.devices') ?? '{}'))[0],
  );
  check(typeof device === 'string' && device.includes('.'), `device token kept: ${device}`);
  const signIn = logger.waitForRequest((r) => (r.postData() ?? '').includes('mutation Login'));
  await logger.fill('input[name=email]', email);
  await logger.fill('input[name=password]', 'correct horse battery');
  await logger.click('button[name=login]');
  const sent = JSON.parse((await signIn).postData() ?? '{}');
  check(sent.variables?.deviceToken === device, 'the sign-in presents the device token');
  await logger.waitForSelector('nav', { timeout: 10_000 });

  // The offline GraphiQL renders from local assets only.
  const graphiql = await context.newPage();
  await graphiql.goto(new URL('graphiql.html', appUrl).href);
  await graphiql.waitForSelector('.graphiql-container', { timeout: 15_000 });
  await graphiql.screenshot({ path: join(artifacts, '10-graphiql.png') });
  check(external.length === 0, `requests left the machine: ${external.join(', ')}`);

  console.log(`browser test passed; screenshots in ${artifacts}`);
} finally {
  process.stdin.destroy();
  await browser.close();
}
