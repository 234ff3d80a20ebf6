// Gear: shoes, bikes and the rest, with the distance each has done and a
// warning once it is worn out.
import { request } from './api';
import { errorText, field, h } from './dom';
import * as fmt from './format';
import {
  CreateGearDocument,
  DeleteGearDocument,
  MyGearDocument,
  RetireGearDocument,
  type ActivityType,
  type GearFieldsFragment,
  type GearKind,
} from './gql/graphql';

export function gearScreen(types: ActivityType[]): HTMLElement {
  const list = h('ul', { className: 'gear' });
  const message = h('p', { className: 'error', role: 'alert' });
  const kind = h('select', { name: 'gear-kind' },
    h('option', { value: 'SHOES' }, 'Shoes'), h('option', { value: 'BIKE' }, 'Bike'), h('option', { value: 'OTHER' }, 'Other'));
  const name = h('input', { type: 'text', name: 'gear-name', maxLength: 100, required: true });
  const defaultFor = h('select', { name: 'gear-default' }, h('option', { value: '' }, 'Not a default'),
    ...types.map((t) => h('option', { value: t }, `Default for ${t.toLowerCase()}`)));
  const warnAt = h('input', { type: 'number', name: 'gear-warn', min: '0', step: 'any' });

  const act = (work: Promise<unknown>) =>
    work.then(load).catch((error) => (message.textContent = errorText(error)));
  const show = (g: GearFieldsFragment) =>
    h('li', { className: 'gear-item', dataset: { gear: g.id, retired: String(g.retired), worn: String(g.needsReplacing) } },
      h('strong', {}, `${g.name}${g.retired ? ' (retired)' : ''}`),
      ` ${g.kind.toLowerCase()} · ${fmt.distance(g.distanceMetres)} · ${fmt.clock(g.durationSeconds)} · ${g.activityCount} workouts`,
      g.defaultFor.length ? h('small', {}, `Default for ${g.defaultFor.map((t) => t.toLowerCase()).join(', ')}`) : null,
      g.needsReplacing ? h('p', { className: 'warning', role: 'status' }, `Past ${fmt.distance(g.warnAtMetres)}: time to replace it.`) : null,
      h('div', { className: 'row' },
        h('button', { type: 'button', name: 'retire-gear', onclick: () => act(request(RetireGearDocument, { id: g.id, retired: !g.retired })) },
          g.retired ? 'Bring back' : 'Retire'),
        h('button', { type: 'button', name: 'delete-gear', onclick: () => act(request(DeleteGearDocument, { id: g.id })) }, 'Delete')),
    );
  const load = () =>
    request(MyGearDocument, {})
      .then(({ myGear }) => list.replaceChildren(...(myGear.length ? myGear.map(show) : [h('li', {}, 'No gear yet.')])))
      .catch((error) => (message.textContent = errorText(error)));
  const metres = fmt.units() === 'imperial' ? 1609.344 : 1000;
  const form = h('form', {
    className: 'row',
    onsubmit: async (e) => {
      e.preventDefault();
      message.textContent = '';
      try {
        await request(CreateGearDocument, {
          input: {
            kind: kind.value as GearKind,
            name: name.value,
            defaultFor: defaultFor.value ? [defaultFor.value as ActivityType] : [],
            warnAtMetres: warnAt.value ? Number(warnAt.value) * metres : null,
          },
        });
        name.value = warnAt.value = '';
        await load();
      } catch (error) {
        message.textContent = errorText(error);
      }
    },
  },
    kind, field('Name', name), defaultFor, field(`Replace after (${fmt.distanceUnit()})`, warnAt),
    h('button', { type: 'submit', name: 'add-gear' }, 'Add gear'),
  );
  void load();
  return h('section', { className: 'card' }, h('h2', {}, 'Gear'), form, message, list);
}
