// The settings of a Node peer, read from the same environment variables as the BFF and
// bench/baseline_app.py, so that the harness configures every side alike.
export const config = {
  port: Number(process.env.PORT ?? 4000),
  databaseUrl: process.env.DATABASE_URL,
  dataDir: process.env.BFF_DATA_DIR ?? '.data',
  issuer: process.env.BFF_JWT_ISSUER ?? 'fintech-bff',
  audience: process.env.BFF_JWT_AUDIENCE ?? 'fintech-app',
  // The BFF's SQLAlchemy pool holds at most pool size + overflow connections: so does this one.
  poolMax:
    Number(process.env.BFF_DB_POOL_SIZE ?? 10) + Number(process.env.BFF_DB_MAX_OVERFLOW ?? 10),
  // How long a cached response may be served, as long as the BFF's cache keeps one.
  cacheTtlMs: Number(process.env.BFF_CACHE_TTL_S ?? 300) * 1000,
};

if (!config.databaseUrl) {
  throw new Error('DATABASE_URL is not set');
}
