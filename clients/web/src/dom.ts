// The few DOM helpers every screen uses.
import { ApiError } from './api';

/** Builds an element: `h('button', {onclick}, 'text')`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(element, rest);
  if (dataset) Object.assign(element.dataset, dataset);
  for (const child of children) if (child != null) element.append(child);
  return element;
}

export function errorText(error: unknown): string {
  return error instanceof ApiError ? `${error.message} (${error.code})` : String(error);
}

export function field(label: string, input: HTMLElement): HTMLLabelElement {
  return h('label', {}, h('span', {}, label), input);
}

