import { readFile } from "node:fs/promises";

let html: Promise<string> | undefined;

/**
 * The views' HTML document, as `npm run build` wrote it to dist/views/. This module is only ever
 * imported dynamically, so the bundle puts it in dist/chunks/, one folder below dist/: the path is
 * relative to that. Read once; a failed read is tried again next time.
 */
export function viewsHtml(): Promise<string> {
  if (!html) {
    const pending = readFile(new URL("../views/users-mcp.html", import.meta.url), "utf8").catch((err: Error) => {
      html = undefined;
      throw new Error(`the views are not built (${err.message}): run npm run build`);
    });
    html = pending;
  }
  return html;
}
