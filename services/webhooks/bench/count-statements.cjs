// Preloaded into the service process by cost.ts (BENCH_COUNT_STATEMENTS=1): counts the statements the
// pg client sends, by their first 70 characters, and writes the counts to PG_COUNT_OUT on SIGUSR2
// (then starts over), so a phase's statements per message can be read.
const { writeFileSync } = require('node:fs');
const pg = require(process.env.PG_COUNT_PATH);

const counts = new Map();
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(config, values, callback) {
  const text = typeof config === 'string' ? config : config?.text;
  if (text) {
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 70);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return query.call(this, config, values, callback);
};
process.on('SIGUSR2', () => {
  const lines = [...counts].sort((a, b) => b[1] - a[1]).map(([text, n]) => `${n}\t${text}`);
  writeFileSync(process.env.PG_COUNT_OUT, `${lines.join('\n')}\n`);
  counts.clear();
});
