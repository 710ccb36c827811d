/**
 * Python's `time.strftime` as it behaves on Linux: Python hands the format to
 * glibc's strftime in the "C" LC_TIME locale, so this follows glibc —
 * conversions, flags (`_ - 0 ^ #`), widths, the E/O modifiers, and unknown
 * conversions copied through as text. Hand-written because the npm strftime
 * packages differ from glibc (no %V/%G/%g, unknown directives dropped);
 * test/services/time/strftime.test.ts runs python3 on the same formats.
 */

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** Broken-down local time, like C's struct tm. */
interface Tm {
  year: number;
  month: number; // 0-11
  day: number; // 1-31
  hour: number;
  minute: number;
  second: number;
  weekday: number; // 0 = Sunday
  yearDay: number; // 0-365
  offsetMinutes: number; // east of UTC
  zone: string;
  unixSeconds: number;
}

const zoneNames = new Map<number, string>();

/**
 * The zone's abbreviation from Intl: "UTC", "EST", "PDT"… as glibc prints
 * them. For zones Intl has no English abbreviation for it gives "GMT+5:30"
 * where glibc gives "IST" (docs/TIME.md).
 */
function zoneName(date: Date): string {
  const key = date.getTimezoneOffset();
  let name = zoneNames.get(key);
  if (name === undefined) {
    const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
      .formatToParts(date)
      .find((p) => p.type === 'timeZoneName');
    name = part?.value ?? '';
    zoneNames.set(key, name);
  }
  return name;
}

function localTm(unixMs: number): Tm {
  const date = new Date(Math.floor(unixMs / 1000) * 1000);
  const year = date.getFullYear();
  const yearDay = Math.round(
    (Date.UTC(year, date.getMonth(), date.getDate()) - Date.UTC(year, 0, 1)) / 86_400_000,
  );
  return {
    year,
    month: date.getMonth(),
    day: date.getDate(),
    hour: date.getHours(),
    minute: date.getMinutes(),
    second: date.getSeconds(),
    weekday: date.getDay(),
    yearDay,
    offsetMinutes: -date.getTimezoneOffset(),
    zone: zoneName(date),
    unixSeconds: Math.floor(unixMs / 1000),
  };
}

/** ISO 8601 week-based year and week number (%G, %V). */
function isoWeek(tm: Tm): { year: number; week: number } {
  const isoWeekday = (tm.weekday + 6) % 7; // Monday = 0
  // The Thursday of this week decides the year.
  const thursdayYearDay = tm.yearDay - isoWeekday + 3;
  const daysInYear = (y: number): number =>
    y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 366 : 365;
  if (thursdayYearDay < 0) {
    const prev = tm.year - 1;
    const dayInPrev = thursdayYearDay + daysInYear(prev);
    return { year: prev, week: Math.floor(dayInPrev / 7) + 1 };
  }
  if (thursdayYearDay >= daysInYear(tm.year)) return { year: tm.year + 1, week: 1 };
  return { year: tm.year, week: Math.floor(thursdayYearDay / 7) + 1 };
}

interface Spec {
  pad: '' | '_' | '-' | '0';
  upper: boolean;
  swapCase: boolean;
  width: number; // -1: none
}

function padNumber(value: number, digits: number, spec: Spec, defaultPad: '0' | ' ' = '0'): string {
  const negative = value < 0;
  let text = String(Math.abs(value));
  const width = spec.width >= 0 ? spec.width : digits;
  if (spec.pad !== '-') {
    const padChar = spec.pad === '_' ? ' ' : spec.pad === '0' ? '0' : defaultPad;
    const room = width - text.length - (negative ? 1 : 0);
    if (room > 0) {
      text = padChar === '0' ? '0'.repeat(room) + text : text;
      if (negative) text = `-${text}`;
      if (padChar === ' ')
        text =
          ' '.repeat(Math.max(0, width - text.length - (negative ? 1 : 0))) +
          (negative ? '-' : '') +
          text;
      return text;
    }
  }
  return negative ? `-${text}` : text;
}

function padText(text: string, spec: Spec, lowerForSwap = false): string {
  let out = text;
  if (spec.upper) out = out.toUpperCase();
  else if (spec.swapCase) out = lowerForSwap ? out.toLowerCase() : out.toUpperCase();
  // glibc pads text to the width even with '-' (which only drops a number's padding).
  if (spec.width > out.length)
    out = (spec.pad === '0' ? '0' : ' ').repeat(spec.width - out.length) + out;
  return out;
}

/** Which conversions take the E and O modifiers in glibc. */
const E_OK = new Set(['c', 'C', 'x', 'X', 'y', 'Y']);
const O_OK = new Set(['b', 'B', 'd', 'e', 'H', 'I', 'm', 'M', 'S', 'U', 'u', 'V', 'w', 'W', 'y']);

function convert(c: string, tm: Tm, spec: Spec): string | undefined {
  const hour12 = tm.hour % 12 === 0 ? 12 : tm.hour % 12;
  const sub = (format: string): string =>
    padText(formatTm(format, tm), { ...spec, upper: spec.upper });
  switch (c) {
    case 'a':
      return padText((DAYS[tm.weekday] ?? '').slice(0, 3), spec);
    case 'A':
      return padText(DAYS[tm.weekday] ?? '', spec);
    case 'b':
    case 'h':
      return padText((MONTHS[tm.month] ?? '').slice(0, 3), spec);
    case 'B':
      return padText(MONTHS[tm.month] ?? '', spec);
    case 'c':
      return sub('%a %b %e %H:%M:%S %Y');
    case 'C':
      return padNumber(Math.floor(tm.year / 100), 2, spec);
    case 'd':
      return padNumber(tm.day, 2, spec);
    case 'e':
      return padNumber(tm.day, 2, spec, ' ');
    case 'D':
    case 'x':
      return sub('%m/%d/%y');
    case 'F':
      return sub('%Y-%m-%d');
    case 'g':
      return padNumber(((isoWeek(tm).year % 100) + 100) % 100, 2, spec);
    case 'G':
      return padNumber(isoWeek(tm).year, 1, spec);
    case 'H':
      return padNumber(tm.hour, 2, spec);
    case 'I':
      return padNumber(hour12, 2, spec);
    case 'j':
      return padNumber(tm.yearDay + 1, 3, spec);
    case 'k':
      return padNumber(tm.hour, 2, spec, ' ');
    case 'l':
      return padNumber(hour12, 2, spec, ' ');
    case 'm':
      return padNumber(tm.month + 1, 2, spec);
    case 'M':
      return padNumber(tm.minute, 2, spec);
    case 'n':
      return padText('\n', spec);
    case 't':
      return padText('\t', spec);
    case 'p':
      return padText(tm.hour < 12 ? 'AM' : 'PM', spec, true);
    case 'P':
      return padText(tm.hour < 12 ? 'am' : 'pm', { ...spec, swapCase: false });
    case 'r':
      return sub('%I:%M:%S %p');
    case 'R':
      return sub('%H:%M');
    case 's':
      return padNumber(tm.unixSeconds, 1, spec);
    case 'S':
      return padNumber(tm.second, 2, spec);
    case 'T':
    case 'X':
      return sub('%H:%M:%S');
    case 'u':
      return padNumber(tm.weekday === 0 ? 7 : tm.weekday, 1, spec);
    case 'U':
      return padNumber(Math.floor((tm.yearDay + 7 - tm.weekday) / 7), 2, spec);
    case 'V':
      return padNumber(isoWeek(tm).week, 2, spec);
    case 'w':
      return padNumber(tm.weekday, 1, spec);
    case 'W':
      return padNumber(Math.floor((tm.yearDay + 7 - ((tm.weekday + 6) % 7)) / 7), 2, spec);
    case 'y':
      return padNumber(((tm.year % 100) + 100) % 100, 2, spec);
    case 'Y':
      return padNumber(tm.year, 1, spec);
    case 'z': {
      const sign = tm.offsetMinutes < 0 ? '-' : '+';
      const abs = Math.abs(tm.offsetMinutes);
      const hhmm = Math.floor(abs / 60) * 100 + (abs % 60);
      const digits = padNumber(hhmm, 4, { ...spec, width: spec.width >= 0 ? spec.width - 1 : -1 });
      return sign + digits;
    }
    case 'Z':
      return padText(tm.zone, spec, true);
    case '%':
      return padText('%', spec);
    default:
      return undefined;
  }
}

function formatTm(format: string, tm: Tm): string {
  let out = '';
  let i = 0;
  while (i < format.length) {
    const percent = format.indexOf('%', i);
    if (percent === -1) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, percent);
    let j = percent + 1;
    const spec: Spec = { pad: '', upper: false, swapCase: false, width: -1 };
    for (; j < format.length; j++) {
      const f = format[j];
      if (f === '_' || f === '-' || f === '0') spec.pad = f;
      else if (f === '^') spec.upper = true;
      else if (f === '#') spec.swapCase = true;
      else break;
    }
    const widthStart = j;
    while (j < format.length && /[0-9]/.test(format.charAt(j))) j++;
    // A width is bounded: "%999999999Y" must not allocate a gigabyte.
    if (j > widthStart) spec.width = Math.min(Number(format.slice(widthStart, j)), 1024);
    let modifier = '';
    if (format[j] === 'E' || format[j] === 'O') modifier = format[j++] ?? '';
    const c = format[j];
    let text: string | undefined;
    if (c !== undefined) {
      const modifierOk = modifier === '' || (modifier === 'E' ? E_OK : O_OK).has(c);
      text = modifierOk ? convert(c, tm, spec) : undefined;
    }
    if (text === undefined) {
      // glibc copies an unknown conversion through as text (padded to its width).
      const literal = format.slice(percent, c === undefined ? j : j + 1);
      text = padText(literal, { ...spec, upper: false, swapCase: false });
    }
    out += text;
    i = c === undefined ? j : j + 1;
  }
  return out;
}

/** Formats `unixMs` in the process's local time zone, as Python's time.strftime would. */
export function strftime(format: string, unixMs: number): string {
  return formatTm(format, localTm(unixMs));
}
