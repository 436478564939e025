// Small pure formatting helpers shared by the pages.

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/**
 * "Last updated at" as a local time with seconds and milliseconds ("14:03:27.045"),
 * with the date in front when it is not today; "never" for null (never 1970).
 */
export function formatUpdatedAt(updatedAtMs: number | null, nowMs: number = Date.now()): string {
  if (updatedAtMs === null || !Number.isFinite(updatedAtMs)) return 'never';
  const at = new Date(updatedAtMs);
  const time = `${pad(at.getHours(), 2)}:${pad(at.getMinutes(), 2)}:${pad(at.getSeconds(), 2)}.${pad(at.getMilliseconds(), 3)}`;
  const now = new Date(nowMs);
  const sameDay =
    at.getFullYear() === now.getFullYear() && at.getMonth() === now.getMonth() && at.getDate() === now.getDate();
  return sameDay ? time : `${at.getFullYear()}-${pad(at.getMonth() + 1, 2)}-${pad(at.getDate(), 2)} ${time}`;
}

/** The full timestamp for a tooltip, or an empty string for never. */
export function formatUpdatedAtTitle(updatedAtMs: number | null): string {
  return updatedAtMs === null ? '' : new Date(updatedAtMs).toISOString();
}

/** A score or count as shown: integers plainly, other numbers with at most three decimals. */
export function formatValue(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toFixed(3)));
}
