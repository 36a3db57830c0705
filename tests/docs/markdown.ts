/** Code blocks of the repository's Markdown pages, for the tests that run or type-check them. */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** One fenced code block. */
export interface CodeBlock {
  /** The language (first word of the info string): `ts`, `js`, `json`, `sh`… */
  lang: string;
  /** The rest of the info string (`fragment` marks a block that is not a whole module). */
  info: string;
  /** The code, ending with a newline. */
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The file name from a first line `// name.ts`, if any. */
  file?: string;
}

/** Every fenced code block of a Markdown text, in order. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const out: CodeBlock[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i]);
    const code = body.join("\n") + "\n";
    const file = /^\/\/ ([\w.-]+\.(?:ts|js|mjs))$/.exec(body[0] ?? "")?.[1];
    out.push({ lang: open[1], info: open[2].trim(), code, line: start + 1, file });
  }
  return out;
}

/** The code block that starts with `// name`; throws naming the page when there is none. */
export function namedBlock(blocks: CodeBlock[], name: string, page: string): CodeBlock {
  const block = blocks.find((b) => b.file === name);
  if (!block) throw new Error(`${page} has no code block starting with '// ${name}'`);
  return block;
}
