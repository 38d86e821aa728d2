import { type Kysely, sql } from 'kysely';

/**
 * Screenshots are PNG, JPEG or WebP: already compressed. PostgreSQL's default storage for bytea
 * tries to compress every value over ~2 KB before moving it out of line, spending CPU on each
 * upload to gain nothing. EXTERNAL stores it out of line without trying (new rows only; stored
 * images stay as they are).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table attachment_blobs alter column data set storage external`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table attachment_blobs alter column data set storage extended`.execute(db);
}
