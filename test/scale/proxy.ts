/**
 * A TCP proxy for fault injection: listens on a free local port and pipes every connection to the
 * target. `cut()` resets every open connection and resets new ones at once (the port stays bound, so
 * clients see their connections die instead of a changed address); `restore()` pipes again.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface Proxy {
  readonly port: number;
  /** The target URL with host and port replaced by the proxy's (e.g. for OTPGATE_DATABASE_URL). */
  url(targetUrl: string): string;
  cut(): void;
  restore(): void;
  readonly isCut: boolean;
  /** Connections accepted so far (piped or refused). */
  readonly accepted: number;
  close(): Promise<void>;
}

function reset(socket: Socket): void {
  if (socket.destroyed) return;
  // An RST rather than a FIN: the client sees ECONNRESET, as when a host or a link goes away.
  if (typeof socket.resetAndDestroy === 'function' && socket.readyState !== 'opening') socket.resetAndDestroy();
  else socket.destroy();
}

export async function startProxy(targetHost: string, targetPort: number): Promise<Proxy> {
  const open = new Set<Socket>();
  let isCut = false;
  let accepted = 0;

  const server: Server = createServer((client) => {
    accepted++;
    client.on('error', () => {});
    if (isCut) {
      reset(client);
      return;
    }
    const upstream = connect({ host: targetHost, port: targetPort });
    upstream.on('error', () => reset(client));
    client.on('error', () => reset(upstream));
    client.on('close', () => reset(upstream));
    upstream.on('close', () => reset(client));
    open.add(client);
    open.add(upstream);
    client.once('close', () => open.delete(client));
    upstream.once('close', () => open.delete(upstream));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    port,
    url(targetUrl: string): string {
      const u = new URL(targetUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString().replace(/\/$/, '');
    },
    cut(): void {
      isCut = true;
      for (const socket of open) reset(socket);
      open.clear();
    },
    restore(): void {
      isCut = false;
    },
    get isCut() {
      return isCut;
    },
    get accepted() {
      return accepted;
    },
    async close(): Promise<void> {
      isCut = true;
      for (const socket of open) socket.destroy();
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
