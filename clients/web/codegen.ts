// Types for every canonical operation (clients/operations) against the schema
// clients see (schema/api.graphql, derived from the composed supergraph).
// `npm run codegen:check` fails when src/gql is stale (CI runs it).
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../../schema/api.graphql',
  documents: ['../operations/*.graphql'],
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: 'string', NaiveDate: 'string', JSON: 'unknown' },
      },
    },
  },
  ignoreNoDocuments: false,
};

export default config;
