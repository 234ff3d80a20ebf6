// FitTrack web app: sign in, log workouts, history with stats, the live AI
// feed, today's plan, and the admin dashboard. Plain DOM, typed operations.
import './style.css';
import { activityScreen, recordName, recordsScreen, recordValue } from './activity';
import { errorText, field, h } from './dom';
import { setUnits, units, type Units } from './format';
import { gearScreen } from './gear';
import { historyDownload } from './history';
import { goalsScreen } from './goals';
import { importScreen, leaveImport } from './importer';
import {
  configureApi,
  currentSession,
  deviceToken,
  onSessionChange,
  rejectedApi,
  rememberDevice,
  request,
  setSession,
  signOut,
  subscribe,
} from './api';
import {
  AdminDashboardDocument,
  ChangePasswordDocument,
  DailyPlanDocument,
  GenerateDailyPlanDocument,
  LogActivityDocument,
  LoginDocument,
  MyActivitiesDocument,
  MyActivityStatsDocument,
  MyRecommendationsDocument,
  MyTrainingProfileDocument,
  PersonalRecordSetDocument,
  RecommendationAddedDocument,
  RegisterDocument,
  RequestPasswordResetDocument,
  ResetPasswordDocument,
  UpdateTrainingProfileDocument,
  type ActivityType,
  type RecommendationFieldsFragment,
  type Units as ProfileUnits,
} from './gql/graphql';

const ACTIVITY_TYPES: ActivityType[] = [
  'RUNNING',
  'CYCLING',
  'SWIMMING',
  'WEIGHTLIFTING',
  'YOGA',
  'CARDIO',
  'WALKING',
  'HIKING',
  'OTHER',
];

const app = document.querySelector<HTMLDivElement>('#app')!;

function localDate(date = new Date()): string {
  const offset = date.getTimezoneOffset() * 60_000;
  return new Date(date.getTime() - offset).toISOString().slice(0, 10);
}

// ---- sign in / sign up -------------------------------------------------------

function authScreen(): HTMLElement {
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'email' });
  const password = h('input', {
    type: 'password',
    name: 'password',
    required: true,
    autocomplete: 'current-password',
  });
  const message = h('p', { className: 'error', role: 'alert' });
  const refused = rejectedApi();
  if (refused) message.textContent = `Ignored ?api=${refused}: not an allowed FitTrack endpoint.`;
  const forgot = async () => {
    message.textContent = '';
    try {
      await request(RequestPasswordResetDocument, { email: email.value });
      message.textContent = `If ${email.value} has an account, a reset link is on its way.`;
    } catch (error) {
      message.textContent = errorText(error);
    }
  };
  const submit = async (mode: 'login' | 'register') => {
    message.textContent = '';
    try {
      const { deviceToken: device, ...session } =
        mode === 'login'
          ? (
              await request(LoginDocument, {
                email: email.value,
                password: password.value,
                deviceToken: deviceToken(email.value),
                deviceName: navigator.userAgent.slice(0, 100),
              })
            ).login
          : (
              await request(RegisterDocument, {
                input: { email: email.value, password: password.value },
              })
            ).register;
      rememberDevice(session.user.email, device);
      setSession(session);
    } catch (error) {
      message.textContent = errorText(error);
    }
  };
  const form = h(
    'form',
    { className: 'card', onsubmit: (e) => (e.preventDefault(), submit('login')) },
    h('h1', {}, 'FitTrack'),
    field('Email', email),
    field('Password', password),
    h('div', { className: 'row' },
      h('button', { type: 'submit', name: 'login' }, 'Sign in'),
      h('button', { type: 'button', name: 'register', onclick: () => submit('register') }, 'Create account'),
      h('button', { type: 'button', name: 'forgot', onclick: forgot }, 'Forgot password?'),
    ),
    h('p', { className: 'hint' }, 'New passwords: at least 12 characters; a few unrelated words work well.'),
    message,
  );
  return form;
}

/** The page a mailed reset link opens (`#reset-password=<token>`). */
function resetScreen(token: string): HTMLElement {
  const password = h('input', { type: 'password', name: 'new-password', required: true, autocomplete: 'new-password' });
  const message = h('p', { className: 'error', role: 'alert' });
  const done = () => {
    history.replaceState(null, '', location.pathname + location.search);
    render();
  };
  const form = h(
    'form',
    {
      className: 'card',
      onsubmit: async (e) => {
        e.preventDefault();
        message.textContent = '';
        try {
          await request(ResetPasswordDocument, { token, newPassword: password.value });
          alert('Your password is changed and every device is signed out. Sign in with the new password.');
          done();
        } catch (error) {
          message.textContent = errorText(error);
        }
      },
    },
    h('h1', {}, 'Choose a new password'),
    field('New password', password),
    h('div', { className: 'row' },
      h('button', { type: 'submit', name: 'reset' }, 'Set password'),
      h('button', { type: 'button', onclick: done }, 'Cancel'),
    ),
    message,
  );
  return form;
}

// ---- account -----------------------------------------------------------------

/** Heart rates for zones (computed, or the user's own) and the units to show: kept on the server. */
function trainingProfileForm(): HTMLElement {
  // Disabled until the saved values are in, so nothing typed is overwritten.
  const max = h('input', { type: 'number', name: 'max-heart-rate', min: '100', max: '250', disabled: true });
  const resting = h('input', { type: 'number', name: 'resting-heart-rate', min: '25', max: '230', disabled: true });
  // Optional: the lowest rate of each zone, from a lab or field test.
  const floors = [1, 2, 3, 4, 5].map((zone) =>
    h('input', { type: 'number', name: `zone-${zone}-floor`, min: '25', max: '249', disabled: true,
      className: 'zone-floor', ariaLabel: `Zone ${zone} from (bpm)`, placeholder: `Z${zone}` }));
  const inputs = [max, resting, ...floors];
  const status = h('p', { className: 'status', role: 'status' });
  request(MyTrainingProfileDocument, {})
    .then(({ myTrainingProfile: p }) => {
      max.value = p.maxHeartRate?.toString() ?? '';
      resting.value = p.restingHeartRate?.toString() ?? '';
      floors.forEach((input, i) => (input.value = p.heartRateZoneFloors?.[i]?.toString() ?? ''));
      inputs.forEach((input) => (input.disabled = false));
    })
    .catch((error) => (status.textContent = errorText(error)));
  return h('form', {
    className: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      status.textContent = '';
      // All empty goes back to computed zones; anything else is checked by the server.
      const own = floors.some((input) => input.value)
        ? floors.map((input) => Number(input.value || 0))
        : null;
      try {
        await request(UpdateTrainingProfileDocument, {
          input: {
            maxHeartRate: max.value ? Number(max.value) : null,
            restingHeartRate: resting.value ? Number(resting.value) : null,
            heartRateZoneFloors: own,
          },
        });
        status.textContent = 'Saved: heart-rate zones now use these.';
      } catch (error) {
        status.textContent = errorText(error);
      }
    },
  },
    h('h2', {}, 'Training profile'),
    field('Maximum heart rate (bpm)', max),
    field('Resting heart rate (bpm)', resting),
    h('fieldset', { className: 'zone-floors' },
      h('legend', {}, 'Your own zones (optional): where zones 1 to 5 start, in bpm'),
      ...floors),
    h('button', { type: 'submit', name: 'save-profile' }, 'Save'),
    status,
  );
}

function accountScreen(): HTMLElement {
  const current = h('input', { type: 'password', name: 'current-password', required: true, autocomplete: 'current-password' });
  const next = h('input', { type: 'password', name: 'new-password', required: true, autocomplete: 'new-password' });
  const status = h('p', { className: 'status', role: 'status' });
  return h(
    'form',
    {
      className: 'card',
      onsubmit: async (e) => {
        e.preventDefault();
        status.textContent = '';
        try {
          const { changePassword } = await request(ChangePasswordDocument, {
            currentPassword: current.value,
            newPassword: next.value,
          });
          setSession(changePassword);
          current.value = next.value = '';
          status.textContent = 'Password changed. Every other device is signed out.';
        } catch (error) {
          status.textContent = errorText(error);
        }
      },
    },
    h('h2', {}, 'Change password'),
    field('Current password', current),
    field('New password', next),
    h('button', { type: 'submit', name: 'change-password' }, 'Change password'),
    status,
  );
}

// ---- log an activity ---------------------------------------------------------

function logScreen(): HTMLElement {
  const type = h('select', { name: 'type' }, ...ACTIVITY_TYPES.map((t) => h('option', { value: t }, t)));
  const duration = h('input', { type: 'number', name: 'durationMinutes', min: '1', max: '1440', value: '30', required: true });
  const calories = h('input', { type: 'number', name: 'caloriesBurned', min: '0', max: '20000', value: '250', required: true });
  const start = h('input', { type: 'datetime-local', name: 'startTime', required: true });
  start.value = new Date(Date.now() - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  const notes = h('input', { type: 'text', name: 'notes', maxLength: 2000 });
  const status = h('p', { className: 'status', role: 'status' });
  return h(
    'form',
    {
      className: 'card',
      onsubmit: async (e) => {
        e.preventDefault();
        status.textContent = 'Saving…';
        try {
          const { logActivity } = await request(LogActivityDocument, {
            input: {
              type: type.value as ActivityType,
              durationMinutes: Number(duration.value),
              caloriesBurned: Number(calories.value),
              startTime: new Date(start.value).toISOString(),
              notes: notes.value || null,
              timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
              idempotencyKey: crypto.randomUUID(),
            },
          });
          status.textContent = `Logged ${logActivity.type.toLowerCase()} for ${logActivity.durationMinutes} min. Your coach is on it — see Feed.`;
        } catch (error) {
          status.textContent = errorText(error);
        }
      },
    },
    h('h2', {}, 'Log a workout'),
    field('Type', type),
    field('Duration (min)', duration),
    field('Calories', calories),
    field('Start', start),
    field('Notes', notes),
    h('button', { type: 'submit', name: 'log' }, 'Log workout'),
    status,
  );
}

// ---- history and stats -------------------------------------------------------

/** A bar per point, oldest first; each bar's tooltip shows its label and value. */
function chart(points: { label: string; value: number }[], description: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 240 80');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', description);
  const max = Math.max(1, ...points.map((p) => p.value));
  const step = 240 / Math.max(points.length, 1);
  points.forEach((point, i) => {
    const height = (point.value / max) * 70;
    const bar = document.createElementNS(ns, 'rect');
    bar.setAttribute('x', String(i * step + step * 0.1));
    bar.setAttribute('y', String(78 - height));
    bar.setAttribute('width', String(step * 0.8));
    bar.setAttribute('height', String(Math.max(height, 1)));
    const title = document.createElementNS(ns, 'title');
    title.textContent = `${point.label}: ${point.value}`;
    bar.append(title);
    svg.append(bar);
  });
  return svg;
}

function historyScreen(): HTMLElement {
  const type = h('select', { name: 'filterType' }, h('option', { value: '' }, 'All types'),
    ...ACTIVITY_TYPES.map((t) => h('option', { value: t }, t)));
  const from = h('input', { type: 'date', name: 'from' });
  const to = h('input', { type: 'date', name: 'to' });
  const stats = h('div', { className: 'stats' });
  const list = h('ul', { className: 'activities' });
  const more = h('button', { type: 'button', hidden: true }, 'More');
  const message = h('p', { className: 'error', role: 'alert' });
  let after: string | null = null;

  const filter = () => ({
    types: type.value ? [type.value as ActivityType] : null,
    from: from.value ? new Date(`${from.value}T00:00`).toISOString() : null,
    to: to.value ? new Date(`${to.value}T00:00`).toISOString() : null,
  });
  const loadPage = async (reset: boolean) => {
    if (reset) {
      after = null;
      list.replaceChildren();
    }
    try {
      const { myActivities } = await request(MyActivitiesDocument, { first: 20, after, filter: filter() });
      for (const { node } of myActivities.edges) {
        list.append(
          h('li', { dataset: { id: node.id } },
            h('button', { type: 'button', className: 'link', name: 'open-activity', onclick: () => openActivity(node.id) }, node.type),
            ` ${node.durationMinutes} min · ${node.caloriesBurned} kcal · ${new Date(node.startTime).toLocaleString()}`,
            node.recommendation ? h('p', { className: 'advice' }, node.recommendation.summary) : null,
          ),
        );
      }
      after = myActivities.pageInfo.endCursor ?? null;
      more.hidden = !myActivities.pageInfo.hasNextPage;
      if (reset && myActivities.edges.length === 0) list.append(h('li', {}, 'No workouts yet.'));
    } catch (error) {
      message.textContent = errorText(error);
    }
  };
  const loadStats = async () => {
    try {
      const { myActivityStats: s } = await request(MyActivityStatsDocument, {
        range: { from: filter().from, to: filter().to },
        utcOffsetMinutes: -new Date().getTimezoneOffset(),
        // Days as this browser's clock has them, daylight saving included.
        timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      });
      stats.replaceChildren(
        h('dl', {},
          h('dt', {}, 'Workouts'), h('dd', { dataset: { stat: 'count' } }, String(s.count)),
          h('dt', {}, 'Minutes'), h('dd', {}, String(s.totalDurationMinutes)),
          h('dt', {}, 'Calories'), h('dd', {}, String(s.totalCaloriesBurned)),
          h('dt', {}, 'Streak'), h('dd', {}, `${s.currentStreakDays} ${s.currentStreakDays === 1 ? "day" : "days"} (best ${s.longestStreakDays})`),
        ),
        chart(
          s.weeklyTrend.map((w) => ({ label: `week of ${w.weekStart}, minutes`, value: w.totalDurationMinutes })),
          'Minutes per week, last 12 weeks',
        ),
      );
    } catch (error) {
      message.textContent = errorText(error);
    }
  };
  const refresh = () => {
    message.textContent = '';
    void loadPage(true);
    void loadStats();
  };
  [type, from, to].forEach((input) => input.addEventListener('change', refresh));
  more.onclick = () => void loadPage(false);
  refresh();
  return h('section', { className: 'card' }, h('h2', {}, 'History'),
    h('div', { className: 'row' }, type, from, to), stats, list, more, message);
}

// ---- live recommendations ------------------------------------------------------

let stopFeed: (() => void) | null = null;

function feedScreen(): HTMLElement {
  const list = h('ul', { className: 'feed' });
  const status = h('p', { className: 'status', role: 'status' }, 'Live: new advice appears here as soon as it is written.');
  const seen = new Set<string>();
  const show = (r: RecommendationFieldsFragment, prepend: boolean) => {
    if (seen.has(r.id)) return;
    seen.add(r.id);
    const item = h('li', { className: 'recommendation', dataset: { activityId: r.activityId } },
      h('p', { className: 'summary' }, r.summary),
      h('p', {}, `Next: ${r.nextWorkout}`),
      h('small', {}, `${r.source === 'GEMINI' ? 'Gemini' : 'Coach rules'} · ${new Date(r.createdAt).toLocaleString()}`),
    );
    if (prepend) list.prepend(item);
    else list.append(item);
  };
  // What arrived while the feed was reconnecting: the newest, newest on top.
  const catchUp = () =>
    request(MyRecommendationsDocument, { first: 20 })
      .then(({ myRecommendations }) => {
        [...myRecommendations.edges].reverse().forEach(({ node }) => show(node, true));
        status.textContent = 'Live: new advice appears here as soon as it is written.';
      })
      .catch((error) => (status.textContent = errorText(error)));
  stopFeed?.();
  const stopAdvice = subscribe(RecommendationAddedDocument, {}, (data) => show(data.recommendationAdded, true),
    (error) => (status.textContent = `Live updates interrupted (${errorText(error)}); reconnecting…`),
    catchUp);
  // A record set by a workout just imported: news, on top of the feed.
  const stopRecords = subscribe(PersonalRecordSetDocument, {}, ({ personalRecordSet: { record, previousValue } }) =>
    list.prepend(h('li', { className: 'new-record', dataset: { record: record.kind } },
      h('p', { className: 'summary' }, `New record! ${recordName(record.kind, record.type)}: ${recordValue(record.kind, record.value)}`),
      h('small', {}, previousValue == null ? 'Your first.' : `Was ${recordValue(record.kind, previousValue)}.`))),
    () => {});
  stopFeed = () => {
    stopAdvice();
    stopRecords();
  };
  request(MyRecommendationsDocument, { first: 20 })
    .then(({ myRecommendations }) => myRecommendations.edges.forEach(({ node }) => show(node, false)))
    .catch((error) => (status.textContent = errorText(error)));
  return h('section', { className: 'card' }, h('h2', {}, 'Coach feed'), status, list);
}

// ---- today's plan ----------------------------------------------------------------

function planScreen(): HTMLElement {
  const body = h('div', { className: 'plan' });
  const status = h('p', { className: 'status', role: 'status' });
  const date = localDate();
  const show = (plan: { focus: string; rationale: string; sessions: { time: string; activityType: string; durationMinutes: number; intensity: string }[]; nutritionTips: string[] }) =>
    body.replaceChildren(
      h('h3', {}, plan.focus),
      h('ol', {}, ...plan.sessions.map((s) => h('li', {}, `${s.time} · ${s.activityType} · ${s.durationMinutes} min · ${s.intensity}`))),
      h('ul', {}, ...plan.nutritionTips.map((tip) => h('li', {}, tip))),
      h('p', {}, plan.rationale),
    );
  const generate = h('button', { type: 'button', name: 'generate' }, 'Generate today’s plan');
  generate.onclick = async () => {
    status.textContent = 'Writing your plan…';
    try {
      show((await request(GenerateDailyPlanDocument, { date, regenerate: true })).generateDailyPlan);
      status.textContent = '';
    } catch (error) {
      status.textContent = errorText(error);
    }
  };
  request(DailyPlanDocument, { date })
    .then(({ dailyPlan }) => (dailyPlan ? show(dailyPlan) : (status.textContent = 'No plan yet for today.')))
    .catch((error) => (status.textContent = errorText(error)));
  return h('section', { className: 'card' }, h('h2', {}, `Plan for ${date}`), body, generate, status);
}

// ---- admin dashboard ---------------------------------------------------------------

function adminScreen(): HTMLElement {
  const body = h('div', { className: 'dashboard' }, 'Loading…');
  request(AdminDashboardDocument, { days: 14 })
    .then(({ adminDashboard: d }) => {
      const tile = (label: string, value: string | number, name: string) =>
        h('div', { className: 'tile', dataset: { tile: name } }, h('span', {}, label), h('strong', {}, String(value)));
      body.replaceChildren(
        tile('Users', d.users.total, 'users'),
        tile('Active users', d.users.active, 'active'),
        tile('New (7 days)', d.users.newLast7Days, 'new'),
        tile('Activities', d.activities.totalActivities, 'activities'),
        tile('Last 24 h', d.activities.activitiesLast24Hours, 'recent'),
        tile('Avg kcal', d.activities.averageCaloriesBurned.toFixed(0), 'calories'),
        tile('Recommendations', d.ai.recommendationsTotal, 'recommendations'),
        tile('From rules', `${(d.ai.rulesShare * 100).toFixed(0)} %`, 'rules'),
        tile('Queue', d.ai.queueWaiting + d.ai.queueInFlight, 'queue'),
        tile('Dead letters', d.ai.deadLetters, 'dead'),
        tile('Gemini breaker', d.ai.breakerState, 'breaker'),
        tile('Erasures owed', d.erasures.reduce((owed, e) => owed + e.pending, 0), 'erasures'),
        h('div', { className: 'growth' }, h('span', {}, 'Sign-ups per day (14 days)'),
          chart(d.userGrowth.map((day) => ({ label: day.date, value: day.count })), 'Sign-ups per day')),
        h('p', { className: 'note' }, 'Figures are cached for up to 60 seconds.'),
      );
    })
    .catch((error) => body.replaceChildren(h('p', { className: 'error' }, errorText(error))));
  return h('section', { className: 'card' }, h('h2', {}, 'Admin dashboard'), body);
}

/** Kilometres or miles, for this browser; the page redraws in the new unit. */
function unitsToggle(redraw: () => void): HTMLSelectElement {
  const select = h('select', { name: 'units', title: 'Units' },
    h('option', { value: 'metric' }, 'km'), h('option', { value: 'imperial' }, 'mi'));
  select.value = units();
  select.onchange = () => {
    setUnits(select.value as Units);
    // Kept with the account too, so every device shows the same.
    void request(UpdateTrainingProfileDocument, {
      input: { units: (select.value === 'imperial' ? 'IMPERIAL' : 'METRIC') as ProfileUnits },
    }).catch(() => {});
    redraw();
  };
  return select;
}

// ---- shell -------------------------------------------------------------------------

const SCREENS = {
  log: ['Log', logScreen],
  import: ['Import', () => importScreen(openActivity)],
  history: ['History', historyScreen],
  records: ['Records', () => recordsScreen(openActivity)],
  goals: ['Goals', () => goalsScreen(ACTIVITY_TYPES)],
  gear: ['Gear', () => gearScreen(ACTIVITY_TYPES)],
  feed: ['Feed', feedScreen],
  plan: ['Plan', planScreen],
  account: ['Account', () => h('div', { className: 'stack' }, trainingProfileForm(), accountScreen(), historyDownload())],
  admin: ['Admin', adminScreen],
} as const;
type ScreenName = keyof typeof SCREENS;

/** An activity's page, under the History tab. */
function openActivity(id: string): void {
  render('history', id);
}

function render(screen: ScreenName = 'log', activityId?: string): void {
  const resetToken = new URLSearchParams(location.hash.slice(1)).get('reset-password');
  if (resetToken) {
    app.replaceChildren(resetScreen(resetToken));
    return;
  }
  const session = currentSession();
  if (!session) {
    stopFeed?.();
    stopFeed = null;
    app.replaceChildren(authScreen());
    return;
  }
  const names = (Object.keys(SCREENS) as ScreenName[]).filter(
    (name) => name !== 'admin' || session.user.role === 'ADMIN',
  );
  if (screen !== 'feed') {
    stopFeed?.();
    stopFeed = null;
  }
  leaveImport();
  const nav = h('nav', {},
    ...names.map((name) =>
      h('button', { type: 'button', className: name === screen ? 'active' : '', dataset: { screen: name }, onclick: () => render(name) }, SCREENS[name][0]),
    ),
    unitsToggle(() => render(screen, activityId)),
    h('span', { className: 'who' }, session.user.email),
    h('button', { type: 'button', name: 'signout', onclick: () => void signOut() }, 'Sign out'),
  );
  app.replaceChildren(nav, activityId ? activityScreen(activityId) : SCREENS[screen][1]());
}

await configureApi();

onSessionChange((session) => {
  // A token refresh keeps the current screen; signing in or out re-renders.
  if (!session || !app.querySelector('nav')) {
    render();
    // The account's units, as chosen on any device.
    if (session) {
      request(MyTrainingProfileDocument, {})
        .then(({ myTrainingProfile }) => {
          const chosen: Units = myTrainingProfile.units === 'IMPERIAL' ? 'imperial' : 'metric';
          if (chosen !== units() && myTrainingProfile.updatedAt !== null) {
            setUnits(chosen);
            render();
          }
        })
        .catch(() => {});
    }
  }
});
render();
