/* The operations console (/ops): one module each under ./ops; the routes import them from here. */

export { OpsAuditPage } from "./ops/Audit";
export { OpsConsumersPage } from "./ops/Consumers";
export { OpsDeadLetterPage } from "./ops/DeadLetter";
export { OpsDeadLettersPage } from "./ops/DeadLetters";
export { OpsEventPage } from "./ops/EventDetail";
export { OpsEventsPage } from "./ops/Events";
export { OpsOverviewPage } from "./ops/Overview";
export { OpsReplayPage } from "./ops/Replay";
export { OpsReplaysPage } from "./ops/Replays";
export { OpsRolloutPage } from "./ops/Rollout";
export { OpsRolloutsPage } from "./ops/Rollouts";
export { OpsRunPage } from "./ops/RunEvents";
export { OpsServicesPage } from "./ops/Services";
export { OpsStreamsPage } from "./ops/Streams";
