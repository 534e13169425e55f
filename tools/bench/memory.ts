/** Resident memory of the bench's processes, read from /proc (Linux). */

/** The process's resident set in bytes, or undefined when it is gone or /proc is not there. */
export async function residentBytes(pid: number): Promise<number | undefined> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kib === undefined ? undefined : Number(kib) * 1024;
}

/** The ids of `parent`'s children whose command name is `name` (e.g. workerd under the edge's Deno). */
export async function childProcesses(parent: number, name: string): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    const close = stat.lastIndexOf(")");
    const command = stat.slice(stat.indexOf("(") + 1, close);
    const parentId = Number(stat.slice(close + 2).split(" ")[1]);
    if (parentId === parent && command === name) found.push(Number(entry.name));
  }
  return found;
}
