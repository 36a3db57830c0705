/** Tutorial part 3: background jobs whose results are pushed to the connection that asked. */
import { channel, eventHandler, type MessageOf, Ping, Pong, wsHandler } from "../../../mod.ts";
import { BaseConsumer } from "../base_consumer.ts";
import { ExtraEventHandlerMixin, type ExtraEventMessage } from "../mixins.ts";
import { JobMessage, JobResult, JobStatusMessage } from "./messages.ts";

type Events = MessageOf<typeof JobResult> | MessageOf<typeof ExtraEventMessage>;

/** Queues jobs on the job queue; a worker (anywhere) sends each result back with `sendEvent`. */
@channel({
  name: "background_jobs",
  description: "Background Jobs Consumer - Real background job processing on the job queue",
  tags: ["jobs", "background"],
})
export class BackgroundJobConsumer extends ExtraEventHandlerMixin(BaseConsumer<Events>) {
  static override layer = "chat";
  static override groups = ["background_jobs"];

  override async postAuthentication(): Promise<void> {
    await this.sendMessage(JobStatusMessage.create({
      status: "connected",
      message: "🔄 Background Job Processor: Connected!",
    }));
  }

  @wsHandler(Ping, { output: Pong, summary: "Handle ping requests" })
  handlePing(_message: MessageOf<typeof Ping>): MessageOf<typeof Pong> {
    return Pong.create();
  }

  @wsHandler(JobMessage, {
    output: JobStatusMessage,
    summary: "Handle job processing requests",
    description: "Process job requests by queuing them on the job queue",
  })
  async handleJob(message: MessageOf<typeof JobMessage>): Promise<void> {
    const { type, content } = message.payload;
    await this.sendMessage(JobStatusMessage.create({
      status: "queuing",
      message: `⏳ Queuing ${type} job: ${content}`,
    }));
    try {
      // Imported lazily: the worker's task module imports this consumer.
      const { queueJob } = await import("./queue.ts");
      const jobId = await queueJob(type, content, this.channelName);
      await this.sendMessage(JobStatusMessage.create({
        status: "queued",
        job_id: jobId,
        message: `📋 Job ${jobId} queued successfully! Worker will process it shortly...`,
      }));
    } catch (error) {
      await this.sendMessage(JobStatusMessage.create({
        status: "error",
        message: `❌ Error queuing job: ${(error as Error)?.message ?? String(error)}`,
      }));
    }
  }

  @eventHandler(JobResult, { output: JobStatusMessage, summary: "Push a job result to its client" })
  handleJobResult(event: MessageOf<typeof JobResult>): MessageOf<typeof JobStatusMessage> {
    return JobStatusMessage.create({ status: "result", message: event.payload });
  }
}
