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
  UpdateGearDocument,
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
  // Several types may share one piece of gear as their default (shoes for running and walking).
  const defaultFor = h('select', { name: 'gear-default', multiple: true, size: 3, ariaLabel: 'Default for' },
    ...types.map((t) => h('option', { value: t }, `Default for ${t.toLowerCase()}`)));
  const warnAt = h('input', { type: 'number', name: 'gear-warn', min: '0', step: 'any' });
  const submit = h('button', { type: 'submit', name: 'add-gear' }, 'Add gear');
  const cancel = h('button', { type: 'button', name: 'cancel-gear-edit', hidden: true }, 'Cancel');
  const metres = fmt.units() === 'imperial' ? 1609.344 : 1000;
  // The piece being edited, if any: the form then saves it instead of adding one.
  let editing: string | null = null;
  const reset = () => {
    editing = null;
    name.value = warnAt.value = '';
    for (const option of defaultFor.options) option.selected = false;
    submit.textContent = 'Add gear';
    submit.name = 'add-gear';
    cancel.hidden = true;
  };
  cancel.onclick = reset;
  const edit = (g: GearFieldsFragment) => {
    editing = g.id;
    kind.value = g.kind;
    name.value = g.name;
    for (const option of defaultFor.options) option.selected = g.defaultFor.includes(option.value as ActivityType);
    warnAt.value = g.warnAtMetres != null ? String(Math.round((g.warnAtMetres / metres) * 10) / 10) : '';
    submit.textContent = 'Save changes';
    submit.name = 'save-gear';
    cancel.hidden = false;
    name.focus();
  };

  const act = (work: Promise<unknown>) =>
    work.then(load).catch((error) => (message.textContent = errorText(error)));
  const show = (g: GearFieldsFragment) =>
    h('li', { className: 'gear-item', dataset: { gear: g.id, retired: String(g.retired), worn: String(g.needsReplacing) } },
      h('strong', {}, `${g.name}${g.retired ? ' (retired)' : ''}`),
      ` ${g.kind.toLowerCase()} · ${fmt.distance(g.distanceMetres)} · ${fmt.clock(g.durationSeconds)} · ${g.activityCount} workouts`,
      g.defaultFor.length ? h('small', {}, `Default for ${g.defaultFor.map((t) => t.toLowerCase()).join(', ')}`) : null,
      g.needsReplacing ? h('p', { className: 'warning', role: 'status' }, `Past ${fmt.distance(g.warnAtMetres)}: time to replace it.`) : null,
      h('div', { className: 'row' },
        h('button', { type: 'button', name: 'edit-gear', onclick: () => edit(g) }, 'Edit'),
        h('button', { type: 'button', name: 'retire-gear', onclick: () => act(request(RetireGearDocument, { id: g.id, retired: !g.retired })) },
          g.retired ? 'Bring back' : 'Retire'),
        h('button', { type: 'button', name: 'delete-gear', onclick: () => act(request(DeleteGearDocument, { id: g.id })) }, 'Delete')),
    );
  const load = () =>
    request(MyGearDocument, {})
      .then(({ myGear }) => list.replaceChildren(...(myGear.length ? myGear.map(show) : [h('li', {}, 'No gear yet.')])))
      .catch((error) => (message.textContent = errorText(error)));
  const form = h('form', {
    className: 'row',
    onsubmit: async (e) => {
      e.preventDefault();
      message.textContent = '';
      const input = {
        kind: kind.value as GearKind,
        name: name.value,
        defaultFor: [...defaultFor.selectedOptions].map((option) => option.value as ActivityType),
        warnAtMetres: warnAt.value ? Number(warnAt.value) * metres : null,
      };
      try {
        if (editing) await request(UpdateGearDocument, { id: editing, input });
        else await request(CreateGearDocument, { input });
        reset();
        await load();
      } catch (error) {
        message.textContent = errorText(error);
      }
    },
  },
    kind, field('Name', name), defaultFor, field(`Replace after (${fmt.distanceUnit()})`, warnAt),
    submit, cancel,
  );
  void load();
  return h('section', { className: 'card' }, h('h2', {}, 'Gear'), form, message, list);
}
