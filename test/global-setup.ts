import { execFileSync } from 'node:child_process';

/** Black-box tests start the built server the way `npm start` does, so build once before the run. */
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
