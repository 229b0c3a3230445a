import type { Writable } from 'node:stream';

const COALESCED = Symbol('otpgate.coalescedWrites');

/**
 * Makes what a socket is given to write during one turn of the event loop go out together, in one
 * system call, at the end of that turn's I/O callbacks (setImmediate), in the order it was written.
 *
 * Why: on Postgres + Redis every Redis command of every request was a write system call of its own
 * (ioredis writes each command as it is sent), and on a small virtual machine a loopback write that
 * wakes the other side costs tens of microseconds: in a CPU profile 31 % of an authorize's main
 * thread and 12 % of a check's went to them (bench/README.md, "Redis commands of one turn in one
 * write"). Requests handled in the same turn now share one write. ioredis's own
 * `enableAutoPipelining` does this too but regroups the commands, and with it 50 concurrent checks
 * of one code overcounted the lockout budget (rate-limiter-flexible's MULTI and Lua calls); corking
 * leaves every command, and its bytes, exactly as and where ioredis wrote them.
 *
 * Idempotent per socket. A write still returns what the stream says (false past its highWaterMark:
 * callers that wait for 'drain' still can).
 */
export function coalesceWrites(socket: Writable): void {
  const marked = socket as Writable & { [COALESCED]?: true };
  if (marked[COALESCED]) return;
  marked[COALESCED] = true;
  const write = socket.write;
  let corked = false;
  const flush = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: Writable, ...args: Parameters<Writable['write']>): boolean {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(flush);
    }
    return write.apply(this, args as never);
  } as Writable['write'];
}
