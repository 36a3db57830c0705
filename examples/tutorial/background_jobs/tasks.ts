/**
 * The job functions. Each waits a real but scaled delay (JOB_DELAY_SCALE, default 1: 2 s for a
 * translation; tests use a small scale), computes its text and pushes it to the connection that
 * asked, through the consumer's layer.
 */
import type { JobContext } from "../../../src/jobs/contract.ts";
import { getLogger } from "../../../mod.ts";
import { BackgroundJobConsumer } from "./consumer.ts";
import { JobResult } from "./messages.ts";

/** The job types clients may ask for; anything else runs as `default`. */
export const JOB_TYPES = ["translate", "analyze", "generate", "default"] as const;
/** One of {@linkcode JOB_TYPES}. */
export type JobType = (typeof JOB_TYPES)[number];

function delayScale(): number {
  try {
    const v = Number(Deno.env.get("JOB_DELAY_SCALE") ?? 1);
    return Number.isFinite(v) && v >= 0 ? v : 1;
  } catch {
    return 1;
  }
}

function work(seconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, seconds * 1000 * delayScale());
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

// A Map: the content is the client's, and "constructor" must not find Object.prototype's.
const TRANSLATIONS = new Map([
  ["hello", "hola"],
  ["world", "mundo"],
  ["good morning", "buenos días"],
  ["thank you", "gracias"],
]);

/** The result text of a translation. */
export function translateText(content: string): string {
  const translated = TRANSLATIONS.get(content.toLowerCase()) ?? `[TRANSLATED: ${content}]`;
  return `🌍 Translated: '${content}' → '${translated}'`;
}

/** The result text of an analysis. */
export function analyzeText(content: string): string {
  const lower = content.toLowerCase();
  const vowels = [...lower].filter((c) => "aeiou".includes(c)).length;
  const consonants = [...lower].filter((c) => /\p{L}/u.test(c) && !"aeiou".includes(c)).length;
  const words = content.split(/\s+/).filter(Boolean).length;
  return `📊 Analysis of '${content}':\n• Characters: ${[...content].length}\n• Words: ${words}\n` +
    `• Vowels: ${vowels}\n• Consonants: ${consonants}`;
}

/** The result text of a generated response. */
export function generateText(content: string): string {
  const lower = content.toLowerCase();
  const reply = lower.includes("weather")
    ? "The weather is looking great today! Perfect for a walk outside."
    : lower.includes("food") || lower.includes("eat")
    ? "I'd recommend trying that new restaurant downtown. Their pasta is excellent!"
    : lower.includes("help")
    ? "I'm here to help! Feel free to ask me anything you'd like to know."
    : `That's an interesting point about '${content}'. Let me think about that... Based on my ` +
      "analysis, I would suggest exploring this topic further through research and practical application.";
  return `🤖 AI Response to '${content}':\n${reply}`;
}

/** The result text of the default job. */
export function defaultText(content: string): string {
  return `✅ Processed: ${content.toUpperCase()}`;
}

async function finish(ctx: JobContext, text: string, channelName: string) {
  try {
    await BackgroundJobConsumer.sendEvent(JobResult.create(text), channelName);
  } catch (error) {
    getLogger().error("Error sending result to client", { error, jobId: ctx.jobId });
  }
  return { status: "completed", result: text, job_id: ctx.jobId };
}

/** The worker's function registry: `(ctx, content, channelName)`. */
export const functions = {
  async translate(ctx: JobContext, content: string, channelName: string) {
    await work(2, ctx.signal);
    return finish(ctx, translateText(content), channelName);
  },
  async analyze(ctx: JobContext, content: string, channelName: string) {
    await work(3, ctx.signal);
    return finish(ctx, analyzeText(content), channelName);
  },
  async generate(ctx: JobContext, content: string, channelName: string) {
    await work(4, ctx.signal);
    return finish(ctx, generateText(content), channelName);
  },
  async default(ctx: JobContext, content: string, channelName: string) {
    await work(1, ctx.signal);
    return finish(ctx, defaultText(content), channelName);
  },
};
