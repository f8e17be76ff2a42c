// A service's log lines are kept in memory and printed only when the test that was running fails
// (libs/testkit/src/test-logs-setup.ts): expected errors (a 503 while a test holds the database down)
// stay out of a passing run's output, and a failure still shows what the service said.
const MAX_LINES = 5_000;
const lines: string[] = [];

/** Pass as `destination` to createLogger in test harnesses. */
export const testLogDestination: { write(line: string): void } = {
  write(line: string) {
    if (lines.length === MAX_LINES) lines.shift();
    lines.push(line);
  },
};

/** Lines written since the last call, which forgets them. */
export function takeTestLogs(): string[] {
  return lines.splice(0, lines.length);
}

/** A KafkaBus `log` sink for tests: kafkajs lines join the service logs shown under a failed test. */
export function testKafkaLog(level: string, message: string, fields: object): void {
  testLogDestination.write(`${JSON.stringify({ level, service: 'kafkajs', msg: message, ...fields })}\n`);
}
