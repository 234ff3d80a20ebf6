// Heart rate, pace (or speed), elevation, power and cadence of a recording,
// each a uPlot chart against distance (or time, for a workout without GPS):
// labelled axes with units, and a cursor synchronised across the charts
// whose legend reads out every value under it.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';
import * as fmt from './format';

export type Streams = Partial<Record<string, (number | null)[]>>;

interface Channel {
  name: string;
  label: string;
  unit: string;
  values: (number | null)[];
  colour: string;
}

const WIDTH = 640;
const HEIGHT = 180;

/** The charts a recording has data for; an empty list when it has none. */
export function streamCharts(streams: Streams, paced: boolean): HTMLElement[] {
  const time = streams.TIME ?? [];
  const distance = streams.DISTANCE ?? [];
  const byDistance = distance.some((d) => d != null && d > 0);
  const x = (byDistance ? distance.map((d) => (d == null ? null : fmt.distanceValue(d))) : time.map((t) => (t == null ? null : t / 60)));
  if (x.length < 2) return [];
  const xLabel = byDistance ? `Distance (${fmt.distanceUnit()})` : 'Time (min)';
  const speed = streams.SPEED ?? [];
  const channels: Channel[] = [
    { name: 'heart-rate', label: 'Heart rate', unit: 'bpm', values: streams.HEART_RATE ?? [], colour: '#c0392b' },
    paced
      ? { name: 'pace', label: 'Pace', unit: `min/${fmt.distanceUnit()}`, values: speed.map(fmt.paceMinutes), colour: '#2e86c1' }
      : { name: 'speed', label: 'Speed', unit: fmt.speedUnit(), values: speed.map(fmt.speedValue), colour: '#2e86c1' },
    {
      name: 'elevation',
      label: 'Elevation',
      unit: fmt.elevationUnit(),
      values: (streams.ALTITUDE ?? []).map((a) => (a == null ? null : fmt.elevationValue(a))),
      colour: '#27ae60',
    },
    { name: 'power', label: 'Power', unit: 'W', values: streams.POWER ?? [], colour: '#8e44ad' },
    { name: 'cadence', label: 'Cadence', unit: 'rpm', values: streams.CADENCE ?? [], colour: '#d68910' },
  ];
  const sync = uPlot.sync(`activity-${Math.random()}`);
  return channels
    .filter((channel) => channel.values.some((v) => v != null))
    .map((channel) => {
      // uPlot wants x ascending and defined: drop points without one.
      const keep = x.map((value, i) => (value == null ? -1 : i)).filter((i) => i >= 0);
      const data: uPlot.AlignedData = [keep.map((i) => x[i] as number), keep.map((i) => channel.values[i] ?? null)];
      const container = h('figure', { className: 'stream-chart', dataset: { chart: channel.name } },
        h('figcaption', {}, `${channel.label} (${channel.unit})`));
      new uPlot(
        {
          width: WIDTH,
          height: HEIGHT,
          cursor: { sync: { key: sync.key } },
          scales: { x: { time: false }, ...(channel.name === 'pace' ? { y: { dir: -1 } } : {}) },
          axes: [
            { label: xLabel },
            { label: channel.unit, values: (_, ticks) => ticks.map((t) => (channel.name === 'pace' ? fmt.clock(t * 60) : t.toFixed(0))) },
          ],
          series: [
            { label: xLabel, value: (_, v) => (v == null ? '–' : v.toFixed(2)) },
            {
              label: channel.label,
              stroke: channel.colour,
              width: 1.5,
              spanGaps: false,
              value: (_, v) =>
                v == null ? '–' : channel.name === 'pace' ? `${fmt.clock(v * 60)} ${channel.unit}` : `${v.toFixed(channel.name === 'speed' ? 1 : 0)} ${channel.unit}`,
            },
          ],
        },
        data,
        container,
      );
      return container;
    });
}
