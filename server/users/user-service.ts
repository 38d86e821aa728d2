import type { Kysely, Transaction } from 'kysely';
import type { Database, ProjectRole, User } from '../db/schema';
import { AppError } from '../http/app-error';
import { hashPassword } from '../auth/passwords';

type Executor = Kysely<Database> | Transaction<Database>;

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Creates a user; `isInstanceAdmin` users administer every project. Emails are unique, case-insensitively. */
export async function createUser(
  db: Executor,
  input: { email: string; password: string; name?: string; isInstanceAdmin?: boolean },
): Promise<User> {
  const email = input.email.trim();
  if (!emailPattern.test(email) || email.length > 320) throw new AppError('invalid_request', 'A valid email address is required', { field: 'email' });
  if (input.password.length < 8 || input.password.length > 1024) {
    throw new AppError('invalid_request', 'The password must be 8–1024 characters long', { field: 'password' });
  }
  const existing = await db.selectFrom('users').select('id').where((eb) => eb(eb.fn('lower', ['email']), '=', email.toLowerCase())).executeTakeFirst();
  if (existing) throw new AppError('conflict', `A user with the email ${email} already exists`, { field: 'email' });
  return db
    .insertInto('users')
    .values({
      email,
      name: input.name ?? null,
      passwordHash: await hashPassword(input.password),
      isInstanceAdmin: input.isInstanceAdmin ?? false,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Gives a user a role in a project, replacing any role they had there. */
export async function setProjectRole(db: Executor, projectId: string, userId: string, role: ProjectRole): Promise<void> {
  await db
    .insertInto('projectMembers')
    .values({ projectId, userId, role })
    .onConflict((conflict) => conflict.columns(['projectId', 'userId']).doUpdateSet({ role }))
    .execute();
}

export async function findUserByEmail(db: Executor, email: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where((eb) => eb(eb.fn('lower', ['email']), '=', email.trim().toLowerCase())).executeTakeFirst();
}
