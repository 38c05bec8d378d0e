// GETs URL and prints the body; exits 1 with `http-get: <why>` on stderr for anything but a 200.
// Run inside a network namespace by the end-to-end tests, where the test process cannot reach.
const [url] = process.argv.slice(2);
try {
  const response = await fetch(url!, { signal: AbortSignal.timeout(10_000) });
  const body = await response.text();
  if (response.status !== 200) {
    process.stderr.write(`http-get: ${url} answered ${response.status}: ${body.slice(0, 200)}\n`);
    process.exit(1);
  }
  process.stdout.write(body);
} catch (err) {
  const cause = (err as { cause?: { code?: string } }).cause;
  process.stderr.write(`http-get: ${url}: ${cause?.code ?? (err as Error).message}\n`);
  process.exit(1);
}
