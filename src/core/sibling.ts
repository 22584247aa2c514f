// The URL of a module beside the caller, with the caller's own extension:
// `.ts` when the code runs from src/ (Node strips the types), `.js` when it
// runs from the compiled dist/ (`make build`, which the launcher prefers
// when it is fresh). For worker threads, whose entry is a path, not an import.

export function siblingUrl(callerUrl: string, name: string): URL {
  const ext = callerUrl.endsWith('.js') ? '.js' : '.ts';
  return new URL(`./${name}${ext}`, callerUrl);
}
