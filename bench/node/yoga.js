// GraphQL Yoga with graphql-jit serving the home query, one process (`node yoga.js`), plus the
// response cache plugin keyed per session with `--response-cache`.
import { createServer } from 'node:http';

import { useGraphQlJit } from '@envelop/graphql-jit';
import { useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { createSchema, createYoga } from 'graphql-yoga';

import { authenticate } from './auth.js';
import { config } from './config.js';
import { health, UNAUTHENTICATED } from './http.js';
import { createLoaders } from './loaders.js';
import { resolvers, typeDefs } from './schema.js';

const withResponseCache = process.argv.includes('--response-cache');
const viewers = new WeakMap(); // request → the viewer authentication found

// Every request is authenticated before anything else runs, a cached response included.
const authentication = {
  onRequest({ request, url, fetchAPI, endResponse }) {
    const json = { 'content-type': 'application/json' };
    if (url.pathname === '/healthz') {
      endResponse(new fetchAPI.Response(health(), { headers: json }));
      return undefined;
    }
    return authenticate(request.headers.get('authorization')).then((viewer) => {
      if (viewer === null) {
        endResponse(new fetchAPI.Response(UNAUTHENTICATED, { status: 401, headers: json }));
      } else {
        viewers.set(request, viewer);
      }
    });
  },
};

const plugins = [authentication, useGraphQlJit()];
if (withResponseCache) {
  plugins.push(
    useResponseCache({
      session: (request) => {
        const viewer = viewers.get(request);
        return `${viewer.user.id}:${viewer.sessionId}`;
      },
      ttl: config.cacheTtlMs,
      includeExtensionMetadata: false,
    }),
  );
}

const yoga = createYoga({
  schema: createSchema({ typeDefs, resolvers }),
  plugins,
  context: ({ request }) => ({ viewer: viewers.get(request), loaders: createLoaders() }),
  graphqlEndpoint: '/graphql',
  graphiql: false,
  landingPage: false,
  logging: 'warn',
});

createServer(yoga).listen(config.port, '127.0.0.1');
