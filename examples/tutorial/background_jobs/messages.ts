/** Messages of the background jobs endpoint (tutorial part 3). */
import { z } from "zod";
import { message } from "../../../mod.ts";

/** `{type = "default", content}`. */
export const JobPayload = z.object({ type: z.string().default("default"), content: z.string() });

/** Client → server: run a job. */
export const JobMessage = message("job", JobPayload);
/** Server → client: connected, queuing, queued (with the job id), error, result. */
export const JobStatusMessage = message("job_status", z.record(z.string(), z.unknown()));
/** Worker → consumer (an event): the result text of a job, for one connection. */
export const JobResult = message("job_result", z.string());
