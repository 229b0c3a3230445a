// Child processes, temporary files and other resources (a throwaway database) the benchmark owns,
// and their cleanup on every way out (normal end, thrown error, SIGINT/SIGTERM, process.exit).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();
const tempDirs = new Set();
const cleanupTasks = new Set();
const OUTPUT_TAIL = 8 * 1024;

/**
 * Spawns `node <args>`; keeps the last few KB of its stdout+stderr (pipes are always drained, so a
 * chatty child never blocks) for error messages. `child.exited` resolves to { code, signal }.
 */
export function spawnNode(name, args, { env = process.env, cwd, ipc = false } = {}) {
  const stdio = ['ignore', 'pipe', 'pipe'];
  if (ipc) stdio.push('ipc');
  const child = spawn(process.execPath, args, { env, cwd, stdio });
  child.label = name;
  child.output = '';
  const keep = (chunk) => {
    child.output = (child.output + chunk.toString()).slice(-OUTPUT_TAIL);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      child.exitStatus = { code, signal };
      resolve(child.exitStatus);
    });
  });
  children.add(child);
  return child;
}

/** A description of why a child is gone, with the tail of its output. */
export function describeExit(child) {
  const { code, signal } = child.exitStatus ?? {};
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const output = child.output.trim() ? `\n--- last output of ${child.label} ---\n${child.output.trim()}\n---` : ' (no output)';
  return `${child.label} ${how}${output}`;
}

/** SIGTERM, then SIGKILL if the child is still there after `graceMs`. */
export async function stopChild(child, graceMs = 5000) {
  if (child.exitStatus) return;
  child.kill('SIGTERM');
  const timedOut = Symbol('timeout');
  const outcome = await Promise.race([child.exited, sleep(graceMs, timedOut)]);
  if (outcome === timedOut) {
    child.kill('SIGKILL');
    await child.exited;
  }
}

/** Registers a directory to delete once the children are stopped. */
export function trackTempDir(dir) {
  tempDirs.add(dir);
}

function removeTempDirs() {
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      console.warn(`bench: could not remove ${dir}: ${error.message}`);
    }
  }
  tempDirs.clear();
}

/**
 * Registers a resource to release after the children are stopped: `release()` (async) runs once
 * from cleanup(); `lastResort()` (synchronous, optional) runs from the exit handler instead when the
 * process exits before cleanup() got to it. Returns a function that unregisters the task.
 */
export function onCleanup(release, lastResort) {
  const task = { release, lastResort };
  cleanupTasks.add(task);
  return () => cleanupTasks.delete(task);
}

async function runCleanupTasks() {
  for (const task of [...cleanupTasks]) {
    cleanupTasks.delete(task);
    try {
      await task.release();
    } catch (error) {
      console.warn(`bench: cleanup: ${error.message}`);
    }
  }
}

let cleaning = null;

/**
 * Stops every child this process started, then releases the registered resources and removes the
 * temporary directories. Concurrent calls (a signal during the normal end) share one run.
 */
export function cleanup() {
  cleaning ??= (async () => {
    try {
      await Promise.all([...children].map((child) => stopChild(child)));
      await runCleanupTasks();
      removeTempDirs();
    } finally {
      cleaning = null;
    }
  })();
  return cleaning;
}

/** Last-resort cleanup, so no child outlives the benchmark even on an unexpected exit. */
export function installExitHandlers() {
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    for (const task of cleanupTasks) {
      try {
        task.lastResort?.();
      } catch (error) {
        console.warn(`bench: cleanup: ${error.message}`);
      }
    }
    cleanupTasks.clear();
    removeTempDirs();
  });
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (stopping) {
        console.error(`bench: ${signal}, still cleaning up (servers, throwaway database)`);
        return;
      }
      stopping = true;
      console.error(`bench: ${signal}, stopping servers`);
      cleanup().finally(() => process.exit(130));
    });
  }
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ: 100 on Linux everywhere in practice). */
const USER_HZ = 100;

/**
 * CPU time (user + system, ms, at 10 ms resolution) the process `pid` has used so far, from
 * /proc/<pid>/stat; null where there is no /proc (not Linux) or the process is gone.
 */
export function processCpuMs(pid) {
  return statCpuMs(`/proc/${pid}/stat`);
}

/**
 * CPU time the main thread of process `pid` has used so far (its event loop: what limits a Node
 * server, whatever its other threads do); null without /proc.
 */
export function mainThreadCpuMs(pid) {
  return statCpuMs(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuMs(path) {
  try {
    const stat = readFileSync(path, 'utf8');
    // The command name (field 2) may hold spaces: count the fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ; // utime, stime (fields 14, 15)
  } catch {
    return null;
  }
}

/** CPU ms the `servers` ({ child }) have used so far (with `mainThread`: their main threads'), added up; null without /proc. */
export function serversCpuMs(servers, { mainThread = false } = {}) {
  const times = servers.map((server) => (mainThread ? mainThreadCpuMs : processCpuMs)(server.child.pid));
  return times.includes(null) ? null : times.reduce((a, b) => a + b, 0);
}

/** A TCP port that was free a moment ago (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * CPU ms used so far by every process of this machine whose command is one of `names` (e.g. the
 * Postgres server and its backends, redis-server), added up, with the CPU of their children that
 * have exited (cutime, cstime: the postmaster's reaped backends); null without /proc. Without the
 * latter, a backend that exits between two readings (a pool closing an idle connection) took its
 * whole past time out of the sum, and a phase could even read negative.
 */
export function commandsCpuMs(names) {
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  let total = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!names.includes(command)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, cutime, cstime (fields 14-17 of proc(5))
      total += ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / USER_HZ;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/**
 * Starts measuring the machine's CPU steal (time the hypervisor gave the virtual CPUs to others,
 * from /proc/stat); the returned function gives the share of all CPU time it took since, in percent
 * (null without /proc/stat).
 */
export function stealMeter() {
  const read = () => {
    try {
      const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
      return { steal: fields[7], total: fields.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const start = read();
  return () => {
    const end = read();
    if (!start || !end || end.total <= start.total) return null;
    return (100 * (end.steal - start.steal)) / (end.total - start.total);
  };
}
