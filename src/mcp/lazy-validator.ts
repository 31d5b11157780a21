import type { JsonSchemaType, JsonSchemaValidator, jsonSchemaValidator } from "@modelcontextprotocol/server";

/**
 * The SDK's Server loads Ajv (with its formats and URI parser) at start-up to validate elicitation
 * answers. That costs cold start for something only a write that needs a person's confirmation uses,
 * so the bundle replaces the SDK's static Ajv import with this module (see rolldown.config.mjs), and
 * the server passes a LazyJsonSchemaValidator, which loads the real Ajv provider when the first
 * elicitation is about to be sent.
 */
export class NoJsonSchemaValidation implements jsonSchemaValidator {
  getValidator<T>(_schema: JsonSchemaType): JsonSchemaValidator<T> {
    throw new Error("users-mcp validates JSON Schema only through LazyJsonSchemaValidator");
  }
}

export { default as process } from "node:process";
/** What the SDK's runtime shim module exports, for the bundle's replacement of it (no static Ajv). */
export { NoJsonSchemaValidation as DefaultJsonSchemaValidator };

/** The SDK's Ajv validator, loaded on demand: call `load()` before sending an elicitation. */
export class LazyJsonSchemaValidator implements jsonSchemaValidator {
  private real: jsonSchemaValidator | undefined;
  private loading: Promise<void> | undefined;

  load(): Promise<void> {
    this.loading ??= import("@modelcontextprotocol/server/validators/ajv").then(({ AjvJsonSchemaValidator }) => {
      this.real = new AjvJsonSchemaValidator();
    });
    return this.loading;
  }

  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    if (!this.real) throw new Error("the JSON Schema validator is not loaded yet: call load() before eliciting");
    return this.real.getValidator<T>(schema);
  }
}
