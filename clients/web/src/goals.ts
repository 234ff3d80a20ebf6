// Weekly and monthly goals with their progress. A goal's weeks and months
// are those of the time zone it was set in (this browser's, by default).
import { request } from './api';
import { errorText, field, h } from './dom';
import * as fmt from './format';
import {
  CreateGoalDocument,
  DeleteGoalDocument,
  MyGoalsDocument,
  type ActivityType,
  type GoalFieldsFragment,
  type GoalMetric,
  type GoalPeriod,
} from './gql/graphql';

const METRICS: [GoalMetric, string][] = [
  ['DISTANCE', 'Distance'],
  ['DURATION', 'Time'],
  ['COUNT', 'Workouts'],
  ['CALORIES', 'Calories'],
];

/** The target's unit as people type it, and its factor to SI. */
function unitOf(metric: GoalMetric): [string, number] {
  switch (metric) {
    case 'DISTANCE':
      return fmt.units() === 'imperial' ? ['mi', 1609.344] : ['km', 1000];
    case 'DURATION':
      return ['hours', 3600];
    case 'COUNT':
      return ['workouts', 1];
    case 'CALORIES':
      return ['kcal', 1];
  }
}

function amount(metric: GoalMetric, value: number): string {
  switch (metric) {
    case 'DISTANCE':
      return fmt.distance(value);
    case 'DURATION':
      return fmt.clock(value);
    case 'COUNT':
      return `${value} workouts`;
    case 'CALORIES':
      return `${Math.round(value)} kcal`;
  }
}

export function goalsScreen(types: ActivityType[]): HTMLElement {
  const list = h('ul', { className: 'goals' });
  const message = h('p', { className: 'error', role: 'alert' });
  const period = h('select', { name: 'goal-period' }, h('option', { value: 'WEEK' }, 'Every week'), h('option', { value: 'MONTH' }, 'Every month'));
  const metric = h('select', { name: 'goal-metric' }, ...METRICS.map(([value, label]) => h('option', { value }, label)));
  const target = h('input', { type: 'number', name: 'goal-target', min: '0', step: 'any', required: true });
  const unit = h('span', { className: 'unit' });
  const type = h('select', { name: 'goal-type' }, h('option', { value: '' }, 'Any workout'), ...types.map((t) => h('option', { value: t }, t)));
  const zone = h('input', { type: 'text', name: 'goal-time-zone', value: Intl.DateTimeFormat().resolvedOptions().timeZone });
  const showUnit = () => (unit.textContent = unitOf(metric.value as GoalMetric)[0]);
  metric.onchange = showUnit;
  showUnit();

  const show = (goal: GoalFieldsFragment) => {
    const bar = h('progress', { max: 1, value: Math.min(goal.progress.fraction, 1) });
    return h('li', { className: 'goal', dataset: { goal: goal.id, achieved: String(goal.progress.achieved) } },
      h('strong', {}, `${goal.period === 'WEEK' ? 'This week' : 'This month'}: ${amount(goal.metric, goal.progress.value)} of ${amount(goal.metric, goal.target)}`),
      ` ${goal.types.length ? goal.types.map((t) => t.toLowerCase()).join(', ') : 'any workout'}${goal.progress.achieved ? ' · reached!' : ''}`,
      bar,
      h('small', {}, `${new Date(goal.progress.periodStart).toLocaleDateString()} – ${new Date(new Date(goal.progress.periodEnd).getTime() - 1).toLocaleDateString()} (${goal.timeZone})`),
      h('button', { type: 'button', name: 'delete-goal', onclick: () => remove(goal.id) }, 'Delete'),
    );
  };
  const load = () =>
    request(MyGoalsDocument, {})
      .then(({ myGoals }) => list.replaceChildren(...(myGoals.length ? myGoals.map(show) : [h('li', {}, 'No goals yet.')])))
      .catch((error) => (message.textContent = errorText(error)));
  const remove = (id: string) =>
    request(DeleteGoalDocument, { id }).then(load).catch((error) => (message.textContent = errorText(error)));
  const form = h('form', {
    className: 'row',
    onsubmit: async (e) => {
      e.preventDefault();
      message.textContent = '';
      const chosen = metric.value as GoalMetric;
      try {
        await request(CreateGoalDocument, {
          input: {
            period: period.value as GoalPeriod,
            metric: chosen,
            target: Number(target.value) * unitOf(chosen)[1],
            types: type.value ? [type.value as ActivityType] : [],
            timeZone: zone.value,
          },
        });
        target.value = '';
        await load();
      } catch (error) {
        message.textContent = errorText(error);
      }
    },
  },
    period, metric, field('Target', h('span', {}, target, unit)), type, field('Time zone', zone),
    h('button', { type: 'submit', name: 'add-goal' }, 'Add goal'),
  );
  void load();
  return h('section', { className: 'card' }, h('h2', {}, 'Goals'), form, message, list);
}
