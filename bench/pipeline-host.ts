// The pipeline bench's `single` mode: the services named in BENCH_HOST_SERVICES (comma-separated)
// in this one process, each started by its own composition root (`main`, as `massivesms <service>`
// starts it) with this process's environment: the deployed processes merged into one.
const entryPoints = {
  router: () => import('@massivesms/router'),
  dispatcher: () => import('@massivesms/dispatcher'),
  webhooks: () => import('@massivesms/webhooks'),
  audit: () => import('@massivesms/audit'),
} as const;

const names = (process.env.BENCH_HOST_SERVICES ?? '').split(',').filter((n) => n !== '');
for (const name of names) {
  if (!(name in entryPoints)) {
    console.error(`pipeline-host: unknown service ${name}; known: ${Object.keys(entryPoints).join(', ')}`);
    process.exit(2);
  }
}
for (const name of names) await (await entryPoints[name as keyof typeof entryPoints]()).main(process.env);
