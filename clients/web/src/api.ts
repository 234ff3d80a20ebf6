// The app's only way to the API: typed documents (generated from
// clients/operations) over HTTP, subscriptions over graphql-transport-ws, and
// the session with its token refresh.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { LogoutDocument, RefreshTokenDocument, type SessionUserFragment } from './gql/graphql';

// ---- which API the app may talk to -------------------------------------------
//
// A crafted link (`?api=https://evil.example/graphql`) must not make the app
// send a password or a token anywhere else. An endpoint is used only when its
// origin is allowed: this page's own origin, the default router (port 4000 on
// this host), the build-time list (VITE_API_ORIGINS, comma-separated), or the
// list the app's own server publishes at ./config.json. Anything else is
// ignored (and reported by `rejectedApi`).

const DEFAULT_API = `${location.protocol}//${location.hostname}:4000/graphql`;
const BUILD_TIME_ORIGINS: string[] = (import.meta.env.VITE_API_ORIGINS ?? '')
  .split(',')
  .map((origin: string) => origin.trim())
  .filter(Boolean);

async function publishedOrigins(): Promise<string[]> {
  try {
    const response = await fetch('./config.json', { cache: 'no-store' });
    if (!response.ok) return [];
    const config = await response.json();
    return Array.isArray(config.apiOrigins) ? config.apiOrigins.map(String) : [];
  } catch {
    return [];
  }
}

function originOf(url: string): string | null {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : null;
  } catch {
    return null;
  }
}

let allowedOrigins = new Set([location.origin, originOf(DEFAULT_API)!, ...BUILD_TIME_ORIGINS]);
let chosenApi = DEFAULT_API;
let rejected: string | null = null;

/** Decides the endpoint; call once before anything talks to the API. */
export async function configureApi(): Promise<void> {
  allowedOrigins = new Set([...allowedOrigins, ...(await publishedOrigins())]);
  const allowed = (url: string | null) => {
    const origin = url ? originOf(url) : null;
    return origin !== null && allowedOrigins.has(origin);
  };
  const fromQuery = new URLSearchParams(location.search).get('api');
  if (fromQuery && allowed(fromQuery)) localStorage.setItem('fittrack.api', fromQuery);
  else if (fromQuery) rejected = fromQuery;
  const saved = localStorage.getItem('fittrack.api');
  chosenApi = saved && allowed(saved) ? new URL(saved, location.href).href : DEFAULT_API;
  // A session belongs to the API that issued it: never replayed elsewhere.
  if (session && session.api !== originOf(chosenApi)) setSession(null);
}

/** Where the router is (see `configureApi`). */
export function apiUrl(): string {
  return chosenApi;
}

/** A `?api=` endpoint that was refused, to tell the user. */
export function rejectedApi(): string | null {
  return rejected;
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: string;
  user: SessionUserFragment;
  /** The origin of the API that issued it; set by `setSession`. */
  api?: string;
}

/** An error the API reported, with its `extensions.code`. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

const SESSION_KEY = 'fittrack.session';
const REFRESH_MARGIN_MS = 60_000;

let session: Session | null = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null');

/** This page's session, if any (GraphiQL pre-fills its token only when the
 * session belongs to the endpoint in use). */
export function sessionForCurrentApi(): Session | null {
  return session && session.api === originOf(apiUrl()) ? session : null;
}
const listeners = new Set<(s: Session | null) => void>();

export function currentSession(): Session | null {
  return session;
}

export function onSessionChange(listener: (s: Session | null) => void): void {
  listeners.add(listener);
}

const DEVICES_KEY = 'fittrack.devices';

/** This browser's device token for `email`'s account (see `login`'s
 * `deviceToken`): kept across sign-outs, per API, so that others guessing the
 * account's password never lock this browser out. */
export function deviceToken(email: string): string | null {
  const devices: Record<string, string> = JSON.parse(localStorage.getItem(DEVICES_KEY) ?? '{}');
  return devices[deviceKey(email)] ?? null;
}

/** Keeps the device token a sign-in returned. */
export function rememberDevice(email: string, token: string | null | undefined): void {
  if (!token) return;
  const devices: Record<string, string> = JSON.parse(localStorage.getItem(DEVICES_KEY) ?? '{}');
  devices[deviceKey(email)] = token;
  localStorage.setItem(DEVICES_KEY, JSON.stringify(devices));
}

function deviceKey(email: string): string {
  return `${originOf(apiUrl()) ?? ''} ${email.trim().toLowerCase()}`;
}

export function setSession(next: Session | null): void {
  if (next) next = { ...next, api: originOf(apiUrl()) ?? undefined };
  session = next;
  if (next) localStorage.setItem(SESSION_KEY, JSON.stringify(next));
  else localStorage.removeItem(SESSION_KEY);
  listeners.forEach((l) => l(next));
}

async function post<R, V>(
  document: TypedDocumentNode<R, V>,
  variables: V | undefined,
  token: string | null,
): Promise<R> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(apiUrl(), {
      method: 'POST',
      headers,
      body: JSON.stringify({ query: print(document), variables }),
    });
  } catch {
    throw new ApiError('The FitTrack API cannot be reached.', 'NETWORK');
  }
  const body = await response.json().catch(() => ({}));
  const error = body.errors?.[0];
  if (error) throw new ApiError(error.message, error.extensions?.code ?? 'UNKNOWN');
  if (!body.data) throw new ApiError(`HTTP ${response.status}`, 'NETWORK');
  return body.data as R;
}

let refreshing: Promise<string> | null = null;

/** A valid access token; refreshed (once, however many callers) when close to expiry. */
export async function accessToken(): Promise<string | null> {
  if (!session) return null;
  if (Date.parse(session.accessTokenExpiresAt) - Date.now() > REFRESH_MARGIN_MS) {
    return session.accessToken;
  }
  refreshing ??= post(RefreshTokenDocument, { refreshToken: session.refreshToken }, null)
    .then((data) => {
      setSession(data.refreshToken);
      return data.refreshToken.accessToken;
    })
    .catch((error) => {
      setSession(null);
      throw error;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** Runs an operation as the signed-in user (or anonymously). */
export async function request<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<R> {
  return post(document, variables, await accessToken());
}

let wsClient: Client | null = null;

/** Called when the shared connection comes back after a drop: events
 * published meanwhile were missed, so a screen reads what it shows again. */
const resumeListeners = new Set<() => void>();

/** The shared WebSocket client; it re-authenticates on every (re)connect. */
export function subscriptions(): Client {
  wsClient ??= createClient({
    url: apiUrl().replace(/^http/, 'ws'),
    lazy: true,
    on: {
      connected: (_socket, _payload, wasRetry) => {
        if (wasRetry) resumeListeners.forEach((listener) => listener());
      },
    },
    // A router restart or a dropped network closes the socket: reconnect for
    // as long as the page is open (graphql-ws backs off on its own), and the
    // subscriptions resume on the new connection.
    retryAttempts: Infinity,
    shouldRetry: () => true,
    connectionParams: async () => {
      const token = await accessToken();
      return token ? { Authorization: `Bearer ${token}` } : {};
    },
  });
  return wsClient;
}

/** First pause before subscribing again after the server ended a stream. */
const FIRST_PAUSE_MS = 500;

/** Subscribes with a typed document; returns the function that ends it.
 * It lasts until that function is called: a stream the server ends is
 * subscribed again (after `onError`, when it ended with an error). After
 * any gap (a dropped connection, a stream the server ended) `onResume` runs
 * once the stream is back, so the caller can fetch what it missed. */
export function subscribe<R, V>(
  document: TypedDocumentNode<R, V>,
  variables: V,
  onData: (data: R) => void,
  onError: (error: unknown) => void,
  onResume: () => void = () => {},
): () => void {
  // Which subscription is current: one ended on purpose (to resubscribe
  // with a fresh token) must not also be restarted by its `complete`.
  let generation = 0;
  const start = () => {
    const mine = ++generation;
    return subscriptions().subscribe<R>(
      { query: print(document), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          const error = result.errors?.[0];
          if (error) {
            const code = String(error.extensions?.code ?? 'SUBSCRIPTION');
            // The token expired or the session ended: refresh (a dead session
            // signs out) and subscribe again on a fresh connection.
            if (code === 'UNAUTHENTICATED' && session) {
              generation++;
              stop();
              resubscribe();
              return;
            }
            onError(new ApiError(error.message, code));
          } else if (result.data) {
            pause = FIRST_PAUSE_MS;
            onData(result.data as R);
          }
        },
        // The server ended the stream (the subgraph behind the router went
        // away, an error it could not recover from): say so and subscribe
        // again, so the page is never silently deaf.
        error: (error) => {
          onError(error);
          if (mine === generation) again();
        },
        complete: () => {
          if (mine === generation) again();
        },
      },
    );
  };
  let stopped = false;
  let pause = FIRST_PAUSE_MS;
  let stopCurrent = start();
  const stop = () => stopCurrent();
  const again = () => {
    if (stopped) return;
    setTimeout(() => {
      if (stopped) return;
      stopCurrent = start();
      onResume();
    }, pause);
    pause = Math.min(pause * 2, 5_000);
  };
  resumeListeners.add(onResume);
  const resubscribe = () => {
    forceRefresh()
      .then(() => {
        wsClient?.dispose();
        wsClient = null;
        if (!stopped) stopCurrent = start();
      })
      .catch(onError);
  };
  return () => {
    stopped = true;
    resumeListeners.delete(onResume);
    stopCurrent();
  };
}

/** Trades the refresh token now, whatever the access token's time left. */
async function forceRefresh(): Promise<string | null> {
  if (session) session = { ...session, accessTokenExpiresAt: new Date(0).toISOString() };
  return accessToken();
}

/** Ends the session on the server (refresh and access tokens, open
 * subscriptions), then forgets it here. */
export async function signOut(): Promise<void> {
  const ending = session;
  wsClient?.dispose();
  wsClient = null;
  setSession(null);
  if (ending) {
    await post(LogoutDocument, { refreshToken: ending.refreshToken }, ending.accessToken).catch(
      () => {},
    );
  }
}
