// The import rules of functions/ (docs/ARCHITECTURE.md explains each folder), checked by
// `npm run lint:deps` in `npm test`: a cycle or a wrong-way import fails the build.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle makes two modules one: neither can be read, tested or moved alone.',
      from: { path: '^functions/' },
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'The domain is plain data and pure decisions: it imports only itself and small libraries (zod, yaml).',
      from: { path: '^functions/domain/' },
      to: { pathNot: ['^functions/domain/', '^node_modules/(zod|yaml)/', '^node_modules/@types/'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'domain-types-stay-home',
      severity: 'error',
      comment: 'Not even a type of another folder: the domain is the bottom layer.',
      from: { path: '^functions/domain/' },
      to: { path: '^functions/(?!domain/)' },
    },
    {
      name: 'sdk-only-in-adapters',
      severity: 'error',
      comment: 'Only adapters (and the composition root that builds the clients) talk to AWS.',
      from: { path: '^functions/', pathNot: ['^functions/adapters/', '^functions/app/(doctor/)?compose\\.ts$'] },
      to: { path: '^node_modules/(@aws-sdk|@smithy)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'core-never-imports-the-edges',
      severity: 'error',
      comment: 'The capabilities reach the world through ports; adapters, app and handlers are wired in from outside.',
      from: { path: '^functions/(domain|pipeline|findings|notify|report|sweep|events|doctor|guardrails)/' },
      to: { path: '^functions/(adapters|app|handlers)/' },
    },
    {
      name: 'adapters-stay-at-the-edge',
      severity: 'error',
      comment: 'An adapter implements a port; it never calls the application or a handler.',
      from: { path: '^functions/adapters/' },
      to: { path: '^functions/(app|handlers|sweep/(?!ports\\.ts)|events|pipeline/(?!ports\\.ts)|report)/' },
    },
    {
      name: 'pipeline-below-its-callers',
      severity: 'error',
      comment: 'The per-instance pipeline serves the sweep and the events; it knows neither, nor the report.',
      from: { path: '^functions/pipeline/' },
      to: { path: '^functions/(sweep|events|report|notify)/' },
    },
    {
      name: 'findings-below-the-pipeline',
      severity: 'error',
      from: { path: '^functions/findings/' },
      to: { path: '^functions/(pipeline|sweep|events|report|notify)/' },
    },
    {
      name: 'guardrails-are-pure',
      severity: 'error',
      comment: 'Readiness and the guardrail documents are pure functions of plain data: the sweep, the report and the command feed them.',
      from: { path: '^functions/guardrails/' },
      to: { path: '^functions/(?!(domain|guardrails)/)' },
    },
    {
      name: 'sweep-and-events-apart',
      severity: 'error',
      comment: 'The event path shares the pipeline and the scope rules, never the sweep orchestration.',
      from: { path: '^functions/sweep/' },
      to: { path: '^functions/events/' },
    },
    {
      name: 'no-one-imports-handlers',
      severity: 'error',
      from: { path: '^functions/', pathNot: '^functions/handlers/' },
      to: { path: '^functions/handlers/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
