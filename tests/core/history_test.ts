/** History and recovery through a whole app on the in-memory layer (history_suite.ts). */
import { InMemoryChannelLayerForTests } from "./deps.ts";
import { historySuite } from "./history_suite.ts";

historySuite("memory", () => new InMemoryChannelLayerForTests());
