/** What the connect window reports, to the callback of {@link connect}. */
export type ConnectEvent =
  | { type: "READY"; message: string; connector?: string }
  | {
      type: "INSTALLED";
      message: string;
      integrationId: string;
      /** `reconnected` when an existing integration was renewed (same id). */
      status: "connected" | "reconnected";
      connector?: string;
    }
  | { type: "error"; message: string; code: string; correlationId?: string };

/** Why {@link connect}'s promise rejected. */
export interface ConnectError extends Error {
  type: "error";
  /** A stable code: `USER_CLOSED`, `NETWORK_ERROR`, `SECRET_EXPIRED`, `ORIGIN_NOT_ALLOWED`, … */
  code: string;
  /** The request id to quote to support, when the server answered. */
  correlationId?: string;
}

export interface ConnectConfig {
  /** The Switchboard host; defaults to the origin this module was loaded from. */
  host?: string;
  /** The connect window's size in CSS pixels (480 × 640). */
  width?: number;
  height?: number;
}

/**
 * Opens Switchboard's connect window for `connector` (call it from a click).
 *
 * @param secret a connect secret your backend signed (RS256 JWT), or a
 *   session token (`cs_…`) from `POST /api/v1/connect-sessions`; or a
 *   function answering one (or a promise of one), called once the window is
 *   open, so it may fetch the secret without the popup being blocked
 * @returns `true` once the integration is installed; rejects with a
 *   {@link ConnectError} otherwise (`USER_CLOSED` when the window is closed first)
 */
export function connect(
  connector: string,
  secret: string | (() => string | Promise<string>),
  callback?: (event: ConnectEvent) => void,
  config?: ConnectConfig,
): Promise<boolean>;

export default connect;
