import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ENV_VARS, SETTINGS } from "../src/settings/config.js";

// The settings table (src/settings/config.ts) is the one list of settings: every place a person reads
// about them must name each one (server.json and the bundle manifest are checked in packaging.test.ts).
const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), "utf8");

describe("the settings table", () => {
  it.each(["README.md", ".env.example"])("%s names every setting", (file) => {
    const text = read(file);
    expect(ENV_VARS.map((v) => v.name).filter((name) => !text.includes(name))).toEqual([]);
  });

  it("marks as secret exactly the settings that hold credentials or keys", () => {
    expect(ENV_VARS.filter((v) => v.secret).map((v) => v.name)).toEqual([
      "LEADPING_API_TOKEN",
      "LEADCONNECTOR_TOKEN",
      "TWOSMS_CLIENT_SECRET",
      "TWOSMS_ACCESS_TOKEN",
      "USERS_MCP_PREVIEW_KEY",
      "USERS_MCP_HTTP_TOKEN",
      "USERS_MCP_OAUTH_CLIENT_SECRET",
      "USERS_MCP_DATABASE_URL",
      "USERS_MCP_DATABASE_ADMIN_URL",
    ]);
    expect(Object.keys(SETTINGS)).toEqual(ENV_VARS.map((v) => v.name));
  });
});
