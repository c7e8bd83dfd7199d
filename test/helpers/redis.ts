/** What a test or bench needs to start its own redis-server: a free loopback port, arguments without persistence. */
import { createServer } from 'node:net';

/** A TCP port nothing listens on now (bound on 0 and released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** redis-server's arguments: loopback only, no RDB or AOF files, its working folder `dir` */
export function redisArgs(port: number, dir: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
}
