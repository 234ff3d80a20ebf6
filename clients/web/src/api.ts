// The app's only way to the API: typed documents (generated from
// clients/operations) over HTTP, subscriptions over graphql-transport-ws, and
// the session with its token refresh.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { RefreshTokenDocument, type SessionUserFragment } from './gql/graphql';

/** Where the router is: `?api=` (remembered), else port 4000 on this host. */
export function apiUrl(): string {
  const fromQuery = new URLSearchParams(location.search).get('api');
  if (fromQuery) localStorage.setItem('fittrack.api', fromQuery);
  return (
    localStorage.getItem('fittrack.api') ??
    `${location.protocol}//${location.hostname}:4000/graphql`
  );
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: string;
  user: SessionUserFragment;
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
const listeners = new Set<(s: Session | null) => void>();

export function currentSession(): Session | null {
  return session;
}

export function onSessionChange(listener: (s: Session | null) => void): void {
  listeners.add(listener);
}

export function setSession(next: Session | null): void {
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

/** The shared WebSocket client; it re-authenticates on every (re)connect. */
export function subscriptions(): Client {
  wsClient ??= createClient({
    url: apiUrl().replace(/^http/, 'ws'),
    lazy: true,
    retryAttempts: 5,
    connectionParams: async () => {
      const token = await accessToken();
      return token ? { Authorization: `Bearer ${token}` } : {};
    },
  });
  return wsClient;
}

/** Subscribes with a typed document; returns the function that ends it. */
export function subscribe<R, V>(
  document: TypedDocumentNode<R, V>,
  variables: V,
  onData: (data: R) => void,
  onError: (error: unknown) => void,
): () => void {
  return subscriptions().subscribe<R>(
    { query: print(document), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        if (result.errors?.length) onError(new ApiError(result.errors[0].message, 'SUBSCRIPTION'));
        else if (result.data) onData(result.data as R);
      },
      error: onError,
      complete: () => {},
    },
  );
}

export function signOut(): void {
  wsClient?.dispose();
  wsClient = null;
  setSession(null);
}
