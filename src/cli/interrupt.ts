// Ctrl-C and SIGTERM for commands that write or read for long: the first signal aborts the work (which then removes
// what it half-wrote), a second one exits at once. Exit codes follow the shell's 128 + signal number convention.
import { BlockFrameError } from '../errors.js';

const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;
type Caught = keyof typeof SIGNALS;

let controller: AbortController | undefined;
let received: Caught | undefined;
const handlers = new Map<Caught, () => void>();

/**
 * The AbortSignal of this command, aborted (with a BF_ABORTED error as its reason) by the first SIGINT or SIGTERM.
 * The first call installs the handlers; `serve` never calls it (it stops on those signals by itself).
 */
export function interruptSignal(): AbortSignal {
  if (controller) return controller.signal;
  const c = new AbortController();
  controller = c;
  for (const sig of Object.keys(SIGNALS) as Caught[]) {
    const on = () => {
      // A second signal: the user does not want to wait for the clean-up.
      if (received) process.exit(SIGNALS[sig]);
      received = sig;
      c.abort(new BlockFrameError('BF_ABORTED', `interrupted by ${sig}`, { signal: sig }));
    };
    handlers.set(sig, on);
    process.on(sig, on);
  }
  return c.signal;
}

/** The signal that interrupted this command, with its exit code (130 for SIGINT, 143 for SIGTERM), if one did. */
export function interruption(): { signal: Caught; exitCode: number } | undefined {
  return received ? { signal: received, exitCode: SIGNALS[received] } : undefined;
}

/** Remove the handlers (the command is over). */
export function releaseInterrupts(): void {
  for (const [sig, on] of handlers) process.off(sig, on);
  handlers.clear();
}
