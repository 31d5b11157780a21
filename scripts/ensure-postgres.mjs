// The suite's PostgreSQL tests need Debian's PostgreSQL server binaries: installed from Debian's
// packages when they are missing (`apt-get install -y postgresql`). The tests start their own cluster
// in a temp directory (scripts/postgres.mjs); nothing here starts or configures a system service.
import { ensureDebianPackage } from "./apt.mjs";
import { postgresBin } from "./postgres.mjs";

ensureDebianPackage("postgresql", () => postgresBin() !== undefined, "PostgreSQL");
process.stderr.write(`PostgreSQL server binaries: ${postgresBin()}\n`);
