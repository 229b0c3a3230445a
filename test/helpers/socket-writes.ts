import type { Writable } from 'node:stream';

/**
 * Counts a socket's calls into the system from now on (each `_write` or `_writev` of the stream is
 * one write system call) and the chunks they carry: how tests see that writes were coalesced.
 */
export function countSystemWrites(socket: Writable): { calls: number; chunks: number } {
  const counts = { calls: 0, chunks: 0 };
  const internals = socket as unknown as {
    _write: (chunk: unknown, encoding: unknown, cb: unknown) => void;
    _writev: (chunks: unknown[], cb: unknown) => void;
  };
  const write = internals._write.bind(socket);
  const writev = internals._writev.bind(socket);
  internals._write = (chunk, encoding, cb) => {
    counts.calls += 1;
    counts.chunks += 1;
    write(chunk, encoding, cb);
  };
  internals._writev = (chunks, cb) => {
    counts.calls += 1;
    counts.chunks += chunks.length;
    writev(chunks, cb);
  };
  return counts;
}
