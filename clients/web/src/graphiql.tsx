// An offline GraphiQL: every asset is bundled from npm (the router's own
// Laboratory loads from a CDN). Queries go to the router over HTTP,
// subscriptions over graphql-transport-ws; set the token in the Headers tab
// ({"Authorization": "Bearer …"}), which is also sent on WebSocket connect.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/graphiql.css';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';
import { apiUrl } from './api';

const url = apiUrl();
const savedSession = JSON.parse(localStorage.getItem('fittrack.session') ?? 'null');
const defaultHeaders = savedSession
  ? JSON.stringify({ Authorization: `Bearer ${savedSession.accessToken}` }, null, 2)
  : undefined;

function headersFromEditor(): Record<string, unknown> {
  try {
    return JSON.parse(localStorage.getItem('graphiql:headers') ?? defaultHeaders ?? '{}');
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

createRoot(document.getElementById('graphiql')!).render(
  <GraphiQL fetcher={fetcher} defaultHeaders={defaultHeaders} shouldPersistHeaders />,
);
