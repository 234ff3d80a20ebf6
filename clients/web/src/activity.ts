// One activity's page (route, charts, splits, laps, the records it set) and
// the records page.
import { ApiError, request } from './api';
import { streamCharts, type Streams } from './charts';
import { errorText, h } from './dom';
import * as fmt from './format';
import {
  ActivityPageDocument,
  ActivityZonesDocument,
  MyGearDocument,
  MyRecordsDocument,
  SetActivityGearDocument,
  type RecordKind,
  type SplitUnit,
} from './gql/graphql';
import { routeSvg } from './route';

/** Types whose speed reads as a pace (min/km), not km/h. */
const PACED = new Set(['RUNNING', 'WALKING', 'HIKING']);

const RECORD_NAMES: Record<RecordKind, string> = {
  FASTEST_400M: 'Fastest 400 m',
  FASTEST_1K: 'Fastest 1 km',
  FASTEST_MILE: 'Fastest mile',
  FASTEST_5K: 'Fastest 5 km',
  FASTEST_10K: 'Fastest 10 km',
  FASTEST_HALF_MARATHON: 'Fastest half marathon',
  FASTEST_MARATHON: 'Fastest marathon',
  BEST_POWER_5_MIN: 'Best 5 min power',
  BEST_POWER_20_MIN: 'Best 20 min power',
  BEST_POWER_60_MIN: 'Best 60 min power',
  LONGEST_RIDE: 'Longest ride',
  LONGEST_DURATION: 'Longest workout',
};

export function recordValue(kind: RecordKind, value: number): string {
  if (kind.startsWith('BEST_POWER')) return `${Math.round(value)} W`;
  if (kind === 'LONGEST_RIDE') return fmt.distance(value);
  return fmt.clock(value);
}

export function recordName(kind: RecordKind, type: string): string {
  return kind === 'LONGEST_DURATION' ? `${RECORD_NAMES[kind]} (${type.toLowerCase()})` : RECORD_NAMES[kind];
}

function table(headings: string[], rows: (string | number)[][], className: string): HTMLTableElement {
  return h('table', { className },
    h('tr', {}, ...headings.map((heading) => h('th', {}, heading))),
    ...rows.map((row) => h('tr', {}, ...row.map((cell) => h('td', {}, String(cell))))),
  );
}

export function activityScreen(id: string): HTMLElement {
  const body = h('div', { className: 'activity-page' }, 'Loading…');
  const unit: SplitUnit = fmt.units() === 'imperial' ? 'MILE' : 'KILOMETRE';
  request(ActivityPageDocument, { id, unit })
    .then(({ activity: a }) => {
      const streams: Streams = Object.fromEntries(a.streams.map((s) => [s.type, s.data]));
      const paced = PACED.has(a.type);
      const distance = a.metrics.distanceKm != null ? a.metrics.distanceKm * 1000 : null;
      const seconds = a.source?.elapsedSeconds ?? a.durationMinutes * 60;
      const facts: [string, string, string][] = [
        ['Distance', fmt.distance(distance), 'distance'],
        ['Time', fmt.clock(a.source?.movingSeconds ?? seconds), 'time'],
        ...(paced && distance ? [['Pace', fmt.pace((a.source?.movingSeconds ?? seconds) / (distance / 1000)), 'pace'] as [string, string, string]] : []),
        ['Elevation gain', fmt.elevation(a.elevationGainMetres), 'elevation'],
        ['Avg heart rate', a.metrics.averageHeartRate ? `${a.metrics.averageHeartRate} bpm` : '–', 'heart-rate'],
        ['Calories', String(a.caloriesBurned), 'calories'],
      ];
      const charts = streamCharts(streams, paced);
      body.replaceChildren(...[
        // Where it was done, on the clock there; else in this browser's time.
        h('h3', {}, `${a.type.toLowerCase()} · ${a.localStartTime
          ? `${String(a.localStartTime).replace('T', ' ').slice(0, 16)} (${a.timeZone})`
          : new Date(a.startTime).toLocaleString()}`),
        a.source ? h('p', { className: 'hint' }, `From a ${a.source.format} file (${a.source.originalSport}${a.source.device ? `, ${a.source.device}` : ''}), ${a.source.points} points`) : null,
        h('dl', { className: 'facts' }, ...facts.flatMap(([label, value, name]) => [h('dt', {}, label), h('dd', { dataset: { fact: name } }, value)])),
        gearPicker(a.id, a.gearId ?? null),
        a.route ? routeSvg(a.route, 'The route, north up') : h('p', { className: 'hint' }, 'No route: the file has no positions.'),
        a.recordsSet.length
          ? h('section', { className: 'records-set' }, h('h4', {}, 'Records set'),
              h('ul', {}, ...a.recordsSet.map((r) => h('li', { dataset: { record: r.kind } }, `${recordName(r.kind, r.type)}: ${recordValue(r.kind, r.value)}`))))
          : null,
        ...(charts.length ? [h('h4', {}, 'Charts'), ...charts] : []),
        a.metrics.averageHeartRate != null ? zonesSection(a.id) : null,
        a.splits.length
          ? h('section', {}, h('h4', {}, `Splits (${fmt.distanceUnit()})`),
              table(['#', 'Distance', 'Time', paced ? 'Pace' : 'Speed', 'Heart rate', 'Climb'],
                a.splits.map((s) => [s.number, fmt.distance(s.distanceMetres), fmt.clock(s.elapsedSeconds),
                  paced ? fmt.pace(s.paceSecondsPerKm) : fmt.speed(s.paceSecondsPerKm ? 1000 / s.paceSecondsPerKm : null),
                  s.averageHeartRate ? `${Math.round(s.averageHeartRate)} bpm` : '–', fmt.elevation(s.elevationGainMetres)]), 'splits'))
          : null,
        a.laps.length
          ? h('section', {}, h('h4', {}, 'Laps'),
              table(['#', 'Distance', 'Time', 'Avg HR', 'Max HR'],
                a.laps.map((lap, i) => [i + 1, fmt.distance(lap.distanceMetres), fmt.clock(lap.elapsedSeconds),
                  lap.averageHeartRate ?? '–', lap.maxHeartRate ?? '–']), 'laps'))
          : null,
      ].filter((part): part is HTMLElement | SVGSVGElement => part != null));
    })
    .catch((error) => body.replaceChildren(h('p', { className: 'error', role: 'alert' }, errorText(error))));
  return h('section', { className: 'card' }, h('h2', {}, 'Activity'), body);
}

export function recordsScreen(openActivity: (id: string) => void): HTMLElement {
  const body = h('div', {}, 'Loading…');
  request(MyRecordsDocument, {})
    .then(({ myRecords }) =>
      body.replaceChildren(
        myRecords.length === 0
          ? h('p', {}, 'No records yet: import a workout recorded by a watch or a bike computer.')
          : h('table', { className: 'records' },
              h('tr', {}, h('th', {}, 'Record'), h('th', {}, 'Best'), h('th', {}, 'Set on')),
              ...myRecords.map((r) =>
                h('tr', { dataset: { record: r.kind } },
                  h('td', {}, recordName(r.kind, r.type)),
                  h('td', {}, recordValue(r.kind, r.value)),
                  h('td', {}, h('button', { type: 'button', className: 'link', onclick: () => openActivity(r.activityId) },
                    new Date(r.achievedAt).toLocaleDateString())),
                ),
              ),
            ),
      ),
    )
    .catch((error) => body.replaceChildren(h('p', { className: 'error', role: 'alert' }, errorText(error))));
  return h('section', { className: 'card' }, h('h2', {}, 'Personal records'), body);
}

/** The gear a workout used, changeable: your gear in service, and the one
 * it used even if retired since. */
function gearPicker(activityId: string, current: string | null): HTMLElement {
  const select = h('select', { name: 'activity-gear' }, h('option', { value: '' }, 'No gear'));
  const status = h('small', { role: 'status' });
  request(MyGearDocument, {})
    .then(({ myGear }) => {
      for (const g of myGear.filter((g) => !g.retired || g.id === current)) {
        select.append(h('option', { value: g.id }, g.name));
      }
      select.value = current ?? '';
    })
    .catch((error) => (status.textContent = errorText(error)));
  select.onchange = () =>
    request(SetActivityGearDocument, { activityId, gearId: select.value || null })
      .then(() => (status.textContent = 'Saved.'))
      .catch((error) => (status.textContent = errorText(error)));
  return h('label', { className: 'gear-picker' }, h('span', {}, 'Gear'), select, status);
}

/** Time in heart-rate zones, from the training profile's rates. */
function zonesSection(id: string): HTMLElement {
  const section = h('section', { className: 'zones' }, h('h4', {}, 'Heart-rate zones'));
  request(ActivityZonesDocument, { id })
    .then(({ activity }) =>
      section.append(
        table(['Zone', 'From', 'To', 'Time'],
          activity.heartRateZones.map((z) => [z.zone, `${Math.round(z.minBpm)} bpm`, `${Math.round(z.maxBpm)} bpm`, fmt.clock(z.seconds)]),
          'zones'),
      ),
    )
    .catch((error) =>
      section.append(h('p', { className: 'hint' },
        error instanceof ApiError && error.code === 'BAD_USER_INPUT'
          ? 'Set your maximum heart rate under Account to see your zones.'
          : errorText(error))),
    );
  return section;
}
