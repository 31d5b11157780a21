// A throwaway PostgreSQL for tests and the bench: Debian's server binaries, a cluster in a temp
// directory, listening on a free loopback port, run as the unprivileged `postgres` user when this
// process is root (PostgreSQL refuses to run as root). Two ordinary roles, as README "Two roles" sets
// them up: `users_mcp_owner`, which owns the tables (USERS_MCP_DATABASE_ADMIN_URL), and `users_mcp`, the
// server's run-time role (USERS_MCP_DATABASE_URL). `database()` gives a database `users_mcp` owns (the
// one-role setup); `twoRoles()` one that `users_mcp_owner` owns and `users_mcp` may only connect to.
//   const pg = await startPostgres(); pg.url ...; await pg.stop(); await pg.start(); await pg.destroy();
// scripts/ensure-postgres.mjs (run by `npm test` and `npm run test:cluster`) installs the packages when they are missing.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The directory of PostgreSQL's server binaries, or undefined when none is installed. */
export function postgresBin() {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], "bin") : undefined;
}

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

export const PASSWORD = "users-mcp-test-password";

/** `durable`: commits wait for the disk, as in production (the bench); tests skip that for speed. `maxConnections`: PostgreSQL's max_connections. */
export async function startPostgres({ durable = false, maxConnections = 200 } = {}) {
  const bin = postgresBin();
  if (!bin) throw new Error("PostgreSQL is not installed: run node scripts/ensure-postgres.mjs (apt-get install -y postgresql)");
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "users-mcp-pg-"));
  const data = join(dir, "data");
  const pwfile = join(dir, "pw");
  writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (root) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  chmodSync(dir, 0o700);
  const as = (cmd, args, options = {}) => {
    const [file, argv] = root ? ["runuser", ["-u", "postgres", "--", join(bin, cmd), ...args]] : [join(bin, cmd), args];
    const r = spawnSync(file, argv, { encoding: "utf8", ...options });
    if (r.status !== 0 && !options.allowFail) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
    return r;
  };
  as("initdb", ["-D", data, "-U", "postgres", "-A", "scram-sha-256", `--pwfile=${pwfile}`, "--no-sync"]);
  const port = await freePort();
  const start = () =>
    as("pg_ctl", [
      "-D",
      data,
      "-l",
      join(dir, "log"),
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=${maxConnections}${durable ? "" : " -c fsync=off -c synchronous_commit=off"}`,
      "start",
    ]);
  start();
  const psql = (sql, user = "postgres", db = "postgres") =>
    spawnSync(join(bin, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], {
      encoding: "utf8",
      env: { ...process.env, PGPASSWORD: PASSWORD },
    });
  const must = (sql, user, db) => {
    const r = psql(sql, user, db);
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  must(`CREATE ROLE users_mcp LOGIN PASSWORD '${PASSWORD}'`);
  must(`CREATE ROLE users_mcp_owner LOGIN PASSWORD '${PASSWORD}'`);
  let databases = 0;
  const at = (role, name) => `postgres://${role}:${PASSWORD}@127.0.0.1:${port}/${name}`;
  return {
    port,
    url: at("users_mcp", "users_mcp"),
    /** A fresh database owned by users_mcp (one role: the server's own role migrates and owns the tables); its URL. */
    database(name = `users_mcp_${++databases}`) {
      must(`CREATE DATABASE ${name} OWNER users_mcp`);
      return at("users_mcp", name);
    },
    /**
     * A fresh database for the two-role setup, made as README "Two roles" says: owned by users_mcp_owner,
     * users_mcp may connect and create nothing. { url: the run-time role's, adminUrl: the owner's }.
     */
    twoRoles(name = `users_mcp_${++databases}`) {
      must(`CREATE DATABASE ${name} OWNER users_mcp_owner`);
      must(`REVOKE ALL ON DATABASE ${name} FROM PUBLIC; GRANT CONNECT ON DATABASE ${name} TO users_mcp`);
      must("REVOKE CREATE ON SCHEMA public FROM PUBLIC", "postgres", name);
      return { url: at("users_mcp", name), adminUrl: at("users_mcp_owner", name) };
    },
    /** Runs SQL (as users_mcp on `db` by default); { status, stdout, stderr }. */
    psql: (sql, db, user = "users_mcp") => psql(sql, user, db),
    stop: () => as("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], { allowFail: true }),
    start,
    destroy() {
      as("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], { allowFail: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
