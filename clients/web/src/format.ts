// The API speaks SI (metres, seconds, metres per second); people read
// kilometres or miles, h:mm:ss and min/km or min/mi. The choice is this
// browser's (`fittrack.units`), metric unless set.

export type Units = 'metric' | 'imperial';

const METRES_PER_MILE = 1609.344;
const FEET_PER_METRE = 3.28084;

export function units(): Units {
  return localStorage.getItem('fittrack.units') === 'imperial' ? 'imperial' : 'metric';
}

export function setUnits(chosen: Units): void {
  localStorage.setItem('fittrack.units', chosen);
}

/** Metres in the chosen unit of distance (km or mi). */
export function distanceValue(metres: number): number {
  return units() === 'imperial' ? metres / METRES_PER_MILE : metres / 1000;
}

export function distanceUnit(): string {
  return units() === 'imperial' ? 'mi' : 'km';
}

export function distance(metres: number | null | undefined): string {
  return metres == null ? '–' : `${distanceValue(metres).toFixed(2)} ${distanceUnit()}`;
}

/** Metres of climb in m or ft. */
export function elevation(metres: number | null | undefined): string {
  if (metres == null) return '–';
  return units() === 'imperial'
    ? `${Math.round(metres * FEET_PER_METRE)} ft`
    : `${Math.round(metres)} m`;
}

export function elevationValue(metres: number): number {
  return units() === 'imperial' ? metres * FEET_PER_METRE : metres;
}

export function elevationUnit(): string {
  return units() === 'imperial' ? 'ft' : 'm';
}

/** 3725 → "1:02:05"; 65 → "1:05". */
export function clock(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return '–';
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Seconds per kilometre as pace in the chosen unit: "5:12 /km". */
export function pace(secondsPerKm: number | null | undefined): string {
  if (secondsPerKm == null) return '–';
  const perUnit = units() === 'imperial' ? (secondsPerKm * METRES_PER_MILE) / 1000 : secondsPerKm;
  return `${clock(perUnit)} /${distanceUnit()}`;
}

/** Metres per second as minutes per km (or mile); null when standing. */
export function paceMinutes(metresPerSecond: number | null): number | null {
  if (metresPerSecond == null || metresPerSecond < 0.3) return null;
  const metres = units() === 'imperial' ? METRES_PER_MILE : 1000;
  return metres / metresPerSecond / 60;
}

/** Metres per second as km/h (or mph). */
export function speedValue(metresPerSecond: number | null): number | null {
  if (metresPerSecond == null) return null;
  return units() === 'imperial' ? metresPerSecond * 2.236936 : metresPerSecond * 3.6;
}

export function speedUnit(): string {
  return units() === 'imperial' ? 'mph' : 'km/h';
}

/** Metres per second as "28.1 km/h" (or mph). */
export function speed(metresPerSecond: number | null | undefined): string {
  const value = speedValue(metresPerSecond ?? null);
  return value == null ? '–' : `${value.toFixed(1)} ${speedUnit()}`;
}
