import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/settings/config.js";
import { selectTools } from "../src/tools/index.js";

describe("configuration", () => {
  it("has working defaults with nothing set", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      timeoutMs: 15000,
      logLevel: "info",
      allowCredentialChanges: false,
      readOnly: false,
      tools: undefined,
      sandbox: false,
      leadping: { baseUrl: "https://api.leadping.ai", token: undefined },
      leadconnector: { baseUrl: "https://services.leadconnectorhq.com", apiVersion: "2021-07-28", token: undefined },
      twosms: { baseUrl: "https://portal.2sms.us" },
    });
  });

  it("lists every problem at once", () => {
    let err: unknown;
    try {
      loadConfig({
        LEADPING_BASE_URL: "ftp://x",
        USERS_MCP_TIMEOUT_MS: "-5",
        USERS_MCP_LOG_LEVEL: "loud",
        USERS_MCP_READ_ONLY: "maybe",
        TWOSMS_CLIENT_ID: "abc",
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join("\n");
    expect(problems).toMatch(/LEADPING_BASE_URL must use https:\/\/, got "ftp:"/);
    expect(problems).toMatch(/USERS_MCP_TIMEOUT_MS must be a positive whole number/);
    expect(problems).toMatch(/USERS_MCP_LOG_LEVEL must be one of error, warn, info, debug/);
    expect(problems).toMatch(/USERS_MCP_READ_ONLY must be true or false/);
  });

  it("refuses half-configured 2SMS client credentials", () => {
    expect(() => loadConfig({ TWOSMS_CLIENT_ID: "abc" })).toThrow(/TWOSMS_CLIENT_ID is set but TWOSMS_CLIENT_SECRET is not/);
  });

  it("treats empty values and placeholders as unset, and trims base URLs", () => {
    const c = loadConfig({
      LEADPING_API_TOKEN: "",
      LEADCONNECTOR_TOKEN: "<your LeadConnector token>",
      LEADPING_BASE_URL: "http://127.0.0.1:9/api/",
    });
    expect(c.leadping.token).toBeUndefined();
    expect(c.leadconnector.token).toBeUndefined();
    expect(c.placeholders).toEqual(["LEADCONNECTOR_TOKEN"]);
    expect(c.leadping.baseUrl).toBe("http://127.0.0.1:9/api");
  });

  it("parses flags and the tool allowlist; CLI overrides win", () => {
    const c = loadConfig(
      { USERS_MCP_READ_ONLY: "yes", USERS_MCP_TOOLS: " get_current_user , update_user ", USERS_MCP_ALLOW_CREDENTIAL_CHANGES: "1" },
      { readOnly: false },
    );
    expect(c.readOnly).toBe(false);
    expect(c.tools).toEqual(["get_current_user", "update_user"]);
    expect(c.allowCredentialChanges).toBe(true);
  });

  it("refuses an unknown tool name in the allowlist, listing the valid ones", () => {
    expect(() => selectTools({ readOnly: false, tools: ["get_current_user", "delete_everything"] })).toThrow(
      /unknown tool\(s\): delete_everything\. Valid tools: get_current_user, update_compliance, search_users, get_user, update_user, get_gdpr_user, update_gdpr, list_writes, revert_write/,
    );
  });

  it("combines read-only and the allowlist", () => {
    expect(selectTools({ readOnly: true, tools: ["update_user", "get_current_user"] }).map((t) => t.name)).toEqual(["get_current_user"]);
    expect(selectTools({ readOnly: false, tools: ["update_gdpr"] }).map((t) => t.name)).toEqual(["update_gdpr"]);
  });
});
