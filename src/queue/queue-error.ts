// An admin operation on the queue that cannot be carried out as asked (no
// such message, or one another node is delivering): its message is for the
// admin, shown as it is by the CLI and the API.

export class QueueError extends Error {}
