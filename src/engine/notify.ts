// Alerts on state changes (a store lost or back, damage found or beyond repair, scrub overdue): deduplicated, then
// sent to a command (--notify CMD) and/or a webhook (--notify-url URL, a JSON POST with a timeout and bounded retry).
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlockFrameError } from '../errors.js';

/**
 * What happened. Each kind belongs to one subject's state, and only a change of that state is sent:
 * - `store-lost` / `store-back`: store `store` stopped answering (or its directory went missing) / answers again;
 *   a store is taken to be up at start, so the first `store-back` of a store never lost is not sent;
 * - `damage-found` / `damage-unrepairable` / `damage-cleared`: archive `archive` was found damaged (and healed on
 *   read, or by the patrol), found beyond repair, or is healthy again (not sent: it re-arms the archive's alerts);
 * - `scrub-overdue` / `scrub-ok`: the patrol did not cover the archives (or `archive`) within its period / caught
 *   up again (`scrub-ok` is sent only after an overdue).
 */
export type AlertKind = 'store-lost' | 'store-back' | 'damage-found' | 'damage-unrepairable' | 'damage-cleared' | 'scrub-overdue' | 'scrub-ok';

export interface AlertEvent {
  kind: AlertKind;
  /** The store, 1-based as people count them (for store-… kinds). */
  store?: number;
  /** The archive's directory name (for damage-… and an archive's scrub-… kinds). */
  archive?: string;
  /** One line for people: what was seen. */
  detail: string;
}

/** The JSON body POSTed to --notify-url and written to --notify's standard input. */
export interface AlertMessage extends AlertEvent {
  /** ISO 8601 time the change was seen. */
  time: string;
  /** Always "blockframe". */
  source: 'blockframe';
}

export interface NotifierOptions {
  /** A shell command run per alert (`sh -c CMD`), the JSON on its stdin and BLOCKFRAME_ALERT_* in its environment. */
  command?: string;
  /** An http(s) URL that gets each alert as a JSON POST. */
  url?: string;
  /** Per attempt, for the POST and the command (default 10 s). */
  timeoutMs?: number;
  /** Tries per alert and target, the first included (default 3); waits 0.5 s, 1 s, 2 s… between them. */
  attempts?: number;
  /** Alerts waiting to be sent at most (default 100); past it the oldest waiting one is dropped and logged. */
  maxQueued?: number;
  /** Where failures to deliver are told (default stderr). */
  log?: (line: string) => void;
  /** Clock (tests). */
  now?: () => number;
}

/**
 * Which state a kind sets, and of which subject family; `send`: always on a change, only when the subject was in a
 * bad state before (a recovery), or never (a re-arm).
 */
const STATE: Record<AlertKind, { family: string; state: string; send: 'always' | 'after-bad' | 'never' }> = {
  'store-lost': { family: 'store', state: 'lost', send: 'always' },
  'store-back': { family: 'store', state: 'ok', send: 'after-bad' },
  'damage-found': { family: 'damage', state: 'found', send: 'always' },
  'damage-unrepairable': { family: 'damage', state: 'unrepairable', send: 'always' },
  'damage-cleared': { family: 'damage', state: 'ok', send: 'never' },
  'scrub-overdue': { family: 'scrub', state: 'overdue', send: 'always' },
  'scrub-ok': { family: 'scrub', state: 'ok', send: 'after-bad' },
};

/** Subjects remembered at most (archives with damage); past it the oldest is forgotten (its next alert re-sends). */
const MAX_SUBJECTS = 10_000;

/**
 * The one notifier of a server. event() decides whether an event is a change (one alert per state change, never
 * one per request) and queues it; alerts go out one at a time, in order, in the background.
 */
export class Notifier {
  private readonly states = new Map<string, string>();
  private readonly queue: AlertMessage[] = [];
  private sending?: Promise<void>;
  private readonly ctl = new AbortController();
  /** Alerts sent (to every target), and deliveries that failed after all tries. */
  sent = 0;
  failed = 0;
  private readonly log: (line: string) => void;

  constructor(readonly opts: NotifierOptions = {}) {
    if (opts.url !== undefined) {
      let u: URL | undefined;
      try {
        u = new URL(opts.url);
      } catch {
        u = undefined;
      }
      if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw new BlockFrameError('BF_USAGE', `--notify-url must be an http(s) URL, not ${JSON.stringify(opts.url)}`);
    }
    if (opts.command !== undefined && opts.command.trim() === '') throw new BlockFrameError('BF_USAGE', '--notify needs a command');
    this.log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
  }

  /** Is any target configured? (Without one, event() still tracks states, and sends nothing.) */
  get enabled(): boolean {
    return this.opts.command !== undefined || this.opts.url !== undefined;
  }

  /** The last state of a subject: event kinds' family and subject, e.g. state('store', 2) → 'lost' | 'ok' | undefined. */
  state(family: 'store' | 'damage' | 'scrub', subject?: string | number): string | undefined {
    return this.states.get(`${family}:${subject ?? ''}`);
  }

  /**
   * Record an event; returns true when it is a change that is sent (queued), false when it repeats the subject's
   * state (or is a kind that is never sent). Never throws for delivery: failures are logged and counted.
   */
  event(e: AlertEvent): boolean {
    const rule = STATE[e.kind];
    const subject = `${rule.family}:${rule.family === 'store' ? (e.store ?? '') : (e.archive ?? '')}`;
    const before = this.states.get(subject);
    if (before === rule.state) return false;
    this.states.delete(subject);
    this.states.set(subject, rule.state);
    if (this.states.size > MAX_SUBJECTS) this.states.delete(this.states.keys().next().value!);
    const send = rule.send === 'always' || (rule.send === 'after-bad' && before !== undefined && before !== 'ok');
    if (!send) return false;
    if (this.enabled) {
      this.queue.push({ source: 'blockframe', time: new Date((this.opts.now ?? Date.now)()).toISOString(), ...e });
      const max = this.opts.maxQueued ?? 100;
      while (this.queue.length > max) {
        const dropped = this.queue.shift()!;
        this.failed++;
        this.log(`blockframe: alert dropped (${max} waiting): ${dropped.kind} ${dropped.detail}`);
      }
      this.sending ??= this.drain().finally(() => (this.sending = undefined));
    }
    return true;
  }

  /** The patrol's hook: the archives (or `archive`) are overdue for a scrub (`overdue`), or covered again. */
  scrubOverdue(overdue: boolean, detail: string, archive?: string): boolean {
    return this.event({ kind: overdue ? 'scrub-overdue' : 'scrub-ok', archive, detail });
  }

  /** Resolves when every queued alert has been sent or has failed. */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  /** Stop: alerts still queued are given up to `graceMs` (default 2 s) to go out, then abandoned. */
  async close(graceMs = 2000): Promise<void> {
    const t = setTimeout(() => this.ctl.abort(), graceMs);
    await this.idle();
    clearTimeout(t);
    this.ctl.abort();
  }

  private async drain(): Promise<void> {
    for (let m = this.queue.shift(); m; m = this.queue.shift()) {
      const body = JSON.stringify(m);
      if (this.opts.url !== undefined) await this.deliver('webhook', m, () => this.post(body));
      if (this.opts.command !== undefined) await this.deliver('command', m, () => this.run(body, m));
    }
  }

  private async deliver(target: string, m: AlertMessage, fn: () => Promise<void>): Promise<void> {
    const attempts = this.opts.attempts ?? 3;
    for (let i = 1; ; i++) {
      try {
        await fn();
        this.sent++;
        return;
      } catch (err) {
        if (i >= attempts || this.ctl.signal.aborted) {
          this.failed++;
          this.log(`blockframe: alert ${m.kind} not delivered to the ${target} after ${i} tr${i === 1 ? 'y' : 'ies'}: ${(err as Error).message}`);
          return;
        }
        await sleep(500 * 2 ** (i - 1), undefined, { signal: this.ctl.signal }).catch(() => undefined);
      }
    }
  }

  /** One POST; a 2xx answer is success, anything else (or no answer within the timeout) a failed try. */
  private async post(body: string): Promise<void> {
    const signal = AbortSignal.any([this.ctl.signal, AbortSignal.timeout(this.opts.timeoutMs ?? 10_000)]);
    const res = await fetch(this.opts.url!, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'blockframe' }, body, signal, redirect: 'error' });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
  }

  /** One run of the command; exit status 0 is success. Killed (SIGKILL) past the timeout. */
  private run(body: string, m: AlertMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const env: NodeJS.ProcessEnv = { ...process.env, BLOCKFRAME_ALERT_KIND: m.kind, BLOCKFRAME_ALERT_DETAIL: m.detail, BLOCKFRAME_ALERT_TIME: m.time };
      if (m.store !== undefined) env.BLOCKFRAME_ALERT_STORE = String(m.store);
      if (m.archive !== undefined) env.BLOCKFRAME_ALERT_ARCHIVE = m.archive;
      const child = spawn('/bin/sh', ['-c', this.opts.command!], { env, stdio: ['pipe', 'ignore', 'inherit'], signal: AbortSignal.any([this.ctl.signal, AbortSignal.timeout(this.opts.timeoutMs ?? 10_000)]), killSignal: 'SIGKILL' });
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(body);
      child.once('error', (err) => reject(err));
      child.once('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(sig ? `killed by ${sig}` : `exit status ${code}`))));
    });
  }
}
