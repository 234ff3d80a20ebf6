// The route of an activity, drawn from its encoded polyline as SVG: no map
// tiles (none are reachable offline), north up, distances true to scale.
import polyline from '@mapbox/polyline';

const SVG = 'http://www.w3.org/2000/svg';
const SIZE = 320;
const MARGIN = 12;

export function routeSvg(encoded: string, description: string): SVGSVGElement {
  const points = polyline.decode(encoded);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${SIZE} ${SIZE}`);
  svg.setAttribute('class', 'route');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', description);
  if (points.length < 2) return svg;
  // Equirectangular around the route's middle latitude: a degree of
  // longitude is cos(latitude) as long as a degree of latitude.
  const lats = points.map(([lat]) => lat);
  const lons = points.map(([, lon]) => lon);
  const [south, north] = [Math.min(...lats), Math.max(...lats)];
  const [west, east] = [Math.min(...lons), Math.max(...lons)];
  const squeeze = Math.cos((((south + north) / 2) * Math.PI) / 180);
  const width = Math.max((east - west) * squeeze, 1e-9);
  const height = Math.max(north - south, 1e-9);
  const scale = (SIZE - 2 * MARGIN) / Math.max(width, height);
  const x0 = (SIZE - width * scale) / 2;
  const y0 = (SIZE - height * scale) / 2;
  const project = ([lat, lon]: [number, number]) =>
    [x0 + (lon - west) * squeeze * scale, y0 + (north - lat) * scale].map((v) => v.toFixed(1));
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', points.map((p, i) => `${i ? 'L' : 'M'}${project(p).join(' ')}`).join(''));
  path.setAttribute('class', 'route-line');
  svg.append(path);
  for (const [point, name] of [
    [points[0], 'start'],
    [points[points.length - 1], 'finish'],
  ] as const) {
    const [cx, cy] = project(point);
    const dot = document.createElementNS(SVG, 'circle');
    dot.setAttribute('cx', cx);
    dot.setAttribute('cy', cy);
    dot.setAttribute('r', '5');
    dot.setAttribute('class', `route-${name}`);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = name;
    dot.append(title);
    svg.append(dot);
  }
  return svg;
}
