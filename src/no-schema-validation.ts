import type { JsonSchemaType, JsonSchemaValidator, jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";

/**
 * The SDK's Server validates elicitation replies against JSON Schema, with Ajv by default. users-mcp
 * never sends elicitation requests, so it passes this instead, and the bundle replaces the SDK's Ajv
 * provider with this module (see rolldown.config.mjs): Ajv, its formats and URI parser are not loaded.
 */
export class NoJsonSchemaValidation implements jsonSchemaValidator {
  getValidator<T>(_schema: JsonSchemaType): JsonSchemaValidator<T> {
    throw new Error("users-mcp does not validate JSON Schema at run time: it never sends elicitation requests");
  }
}

/** The name the SDK imports, for the bundle's replacement of its Ajv provider. */
export { NoJsonSchemaValidation as AjvJsonSchemaValidator };
