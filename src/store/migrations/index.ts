import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './001-initial.js';

/** Migrations are imported in code (not read from a folder) so they work from src and dist alike. */
export const migrations: Record<string, Migration> = {
  '001-initial': initial,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
