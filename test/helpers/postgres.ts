import pg from 'pg';

/** Runs one statement on a short-lived connection (set-up and clean-up of test schemas). */
export async function pgQuery<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Drops test schemas with everything in them. */
export async function dropSchemas(url: string, schemas: Iterable<string>): Promise<void> {
  for (const schema of schemas) await pgQuery(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}
