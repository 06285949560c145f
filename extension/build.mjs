// Bundles the widget and the standalone page into ../remotemedia/static/ (git-ignored).
// Usage: node build.mjs [--watch]
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const options = {
  entryPoints: { microphone: "src/microphone.ts", standalone: "src/standalone.ts" },
  absWorkingDir: here,
  outdir: "../remotemedia/static",
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
