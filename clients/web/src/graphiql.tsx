// An offline GraphiQL: every asset is bundled from npm (the router's own
// Laboratory loads from a CDN). Queries go to the router over HTTP,
// subscriptions over graphql-transport-ws; set the token in the Headers tab
// ({"Authorization": "Bearer …"}), which is also sent on WebSocket connect.
//
// The endpoint is chosen as in the app (`configureApi`: only allowed
// origins). A token is pre-filled only from a session issued by that same
// endpoint, and saved editor state (headers included) is kept per endpoint,
// so a token typed for one API is never sent to another.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/graphiql.css';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';
import { apiUrl, configureApi, rejectedApi, sessionForCurrentApi } from './api';

await configureApi();
const url = apiUrl();
const savedSession = sessionForCurrentApi();
const defaultHeaders = savedSession
  ? JSON.stringify({ Authorization: `Bearer ${savedSession.accessToken}` }, null, 2)
  : undefined;

/** localStorage, with every key under this endpoint's origin. */
const prefix = `graphiql@${new URL(url).origin}:`;
const storage: Storage = {
  get length() {
    return Object.keys(localStorage).filter((key) => key.startsWith(prefix)).length;
  },
  key: (index) =>
    Object.keys(localStorage)
      .filter((key) => key.startsWith(prefix))
      [index]?.slice(prefix.length) ?? null,
  getItem: (key) => localStorage.getItem(prefix + key),
  setItem: (key, value) => localStorage.setItem(prefix + key, value),
  removeItem: (key) => localStorage.removeItem(prefix + key),
  clear: () =>
    Object.keys(localStorage)
      .filter((key) => key.startsWith(prefix))
      .forEach((key) => localStorage.removeItem(key)),
};

function headersFromEditor(): Record<string, unknown> {
  try {
    return JSON.parse(storage.getItem('graphiql:headers') ?? defaultHeaders ?? '{}');
  } catch {
    return {};
  }
}

const fetcher = createGraphiQLFetcher({
  url,
  wsClient: createClient({
    url: url.replace(/^http/, 'ws'),
    lazy: true,
    connectionParams: () => headersFromEditor(),
  }),
});

const refused = rejectedApi();
if (refused) console.warn(`?api=${refused} is not an allowed endpoint; using ${url}`);

createRoot(document.getElementById('graphiql')!).render(
  <GraphiQL fetcher={fetcher} defaultHeaders={defaultHeaders} shouldPersistHeaders storage={storage} />,
);
