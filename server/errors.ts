// Every error a client can receive, defined once: a stable code, an HTTP status and a
// message. Routes throw OlympixError; the error handler turns it into the HttpError body.

export class OlympixError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'OlympixError';
  }
}

export const Errors = {
  badBody: (message: string) => new OlympixError('OLX_BAD_BODY', 400, message),
  badParameter: (message: string) => new OlympixError('OLX_BAD_PARAMETER', 400, message),
  missingToken: () => new OlympixError('OLX_MISSING_TOKEN', 401, 'missing write token: send "Authorization: Bearer <token>"'),
  wrongToken: () => new OlympixError('OLX_WRONG_TOKEN', 403, 'wrong write token'),
  originRefused: (origin: string) => new OlympixError('OLX_ORIGIN_REFUSED', 403, `origin ${origin} is not allowed`),
  unknownTeam: (team: string) => new OlympixError('OLX_UNKNOWN_TEAM', 404, `unknown team "${team}"`),
  unknownEvent: (event: string) => new OlympixError('OLX_UNKNOWN_EVENT', 404, `unknown event "${event}"`),
  notFound: (what: string) => new OlympixError('OLX_NOT_FOUND', 404, `${what} not found`),
  conflict: (message: string) => new OlympixError('OLX_CONFLICT', 409, message),
  rateLimited: () => new OlympixError('OLX_RATE_LIMITED', 429, 'too many requests'),
  storeUnavailable: (why: string) => new OlympixError('OLX_STORE_UNAVAILABLE', 503, `the store is unavailable: ${why}`),
  notServing: () => new OlympixError('OLX_NOT_SERVING', 503, 'this node is starting: its clock is not synchronised yet'),
  noNode: () => new OlympixError('OLX_NO_NODE', 503, 'no healthy node is available'),
  raffleDisabled: () => new OlympixError('OLX_RAFFLE_DISABLED', 409, 'the raffle is disabled on this cluster'),
} as const;

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export function statusText(statusCode: number): string {
  return STATUS_TEXT[statusCode] ?? 'Error';
}
