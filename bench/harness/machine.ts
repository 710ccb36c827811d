/**
 * The machine a bench runs on, and how busy it is: the CPU time of everyone
 * else from /proc/stat, so that a run that shared its two cores with another
 * process can be repeated or at least reported.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { formatNumber } from './stats.js';
import { sleep } from './processes.js';

export interface Machine {
  date: string;
  /** CPU use by other processes just before the run (% of all CPUs). */
  backgroundBefore?: number;
  /** Load averages (1, 5, 15 min) when the run ended. */
  loadAfter?: string;
  /** Median CPU use of other processes during the measured runs (% of one core). */
  otherDuring?: number;
  /** Median hypervisor steal during the measured runs (% of one core). */
  stealDuring?: number;
  cpus: number;
  model: string;
  memory: string;
  node: string;
  kernel: string;
}

/** /proc/stat counts in USER_HZ ticks, 100 per second on Linux. */
export const JIFFY_MS = 10;

export interface CpuTimes {
  /** Ticks in processes' user and system time, all CPUs. */
  tasks: number;
  /** Ticks in interrupt and softirq handling (loopback TCP is mostly softirq). */
  irq: number;
  /** Ticks the hypervisor gave to someone else. */
  steal: number;
  busy: number;
  total: number;
}

/** All CPUs' time by kind (ticks), from /proc/stat; zeros elsewhere. */
export async function cpuTimes(): Promise<CpuTimes> {
  let stat: string;
  try {
    stat = await readFile('/proc/stat', 'utf8');
  } catch {
    return { tasks: 0, irq: 0, steal: 0, busy: 0, total: 0 };
  }
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const f = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const at = (i: number): number => f[i] ?? 0;
  const tasks = at(0) + at(1) + at(2);
  const irq = at(5) + at(6);
  const steal = at(7);
  const busy = tasks + irq + steal;
  return { tasks, irq, steal, busy, total: busy + at(3) + at(4) };
}

/** How busy the machine is without us (% of all CPUs), over `ms`. */
export async function backgroundLoad(ms: number): Promise<number> {
  const a = await cpuTimes();
  await sleep(ms);
  const b = await cpuTimes();
  return b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * 100 : Number.NaN;
}

export async function loadAverage(): Promise<string> {
  try {
    return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

export function machine(): Machine {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpus: availableParallelism(),
    model: cpus()[0]?.model ?? 'unknown',
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    kernel: `Linux ${release()}`,
  };
}

/** The machine in one line: CPUs, model, memory, kernel, Node. */
export function machineSummary(m: Machine): string {
  return `${m.cpus} CPUs (${m.model}), ${m.memory} RAM, ${m.kernel}, Node ${m.node}`;
}

/** How busy the machine was, in one line. */
export function machineLine(m: Machine): string {
  const pct = (v: number | undefined): string => `${formatNumber(v ?? Number.NaN, 2)}%`;
  return (
    `other processes used ${pct(m.backgroundBefore)} of the CPUs just before the run and a median ` +
    `${pct(m.otherDuring)} of one core during its runs; hypervisor steal, median ${pct(m.stealDuring)} ` +
    `of one core; load average ${m.loadAfter ?? 'n/a'} at the end`
  );
}
