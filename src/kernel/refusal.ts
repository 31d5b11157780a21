/**
 * A call the server itself stopped on purpose (a conflict with a preview, a confirmation that cannot be
 * asked, an audit log that cannot be written): its message is the whole answer for the agent.
 */
export class RefusalError extends Error {
  override name = "RefusalError";
}
