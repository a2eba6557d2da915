/**
 * systemd's readiness protocol (sd_notify): "READY=1", "STATUS=…", "STOPPING=1" as one datagram to
 * the unix socket named by $NOTIFY_SOCKET, so a Type=notify unit is "active" only once the member
 * serves clients, as etcd's is. Node and Bun have no unix datagram sockets, so the three libc calls
 * go through bun:ffi (part of the runtime: the single binary stays self-contained, no addon, no
 * external systemd-notify helper).
 */
import type { Logger } from "../../pkg/logger.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
/** sizeof(struct sockaddr_un) on Linux: sa_family (2 bytes) + 108 bytes of path. */
const SOCKADDR_UN_BYTES = 110;

export type Notify = (state: Record<string, string>) => void;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: unknown, len: number, flags: number, addr: unknown, addrlen: number): number | bigint;
  close(fd: number): number;
}

let libc: Libc | null | undefined;

async function loadLibc(): Promise<Libc | null> {
  if (libc !== undefined) return libc;
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const lib = dlopen(process.platform === "darwin" ? "libc.dylib" : "libc.so.6", {
      socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
    });
    libc = lib.symbols as unknown as Libc;
  } catch {
    libc = null;
  }
  return libc;
}

/** The sockaddr_un for a NOTIFY_SOCKET value ("@name" is Linux's abstract namespace). */
export function socketAddress(path: string): Uint8Array {
  const name = path.startsWith("@") ? Buffer.concat([Buffer.from([0]), Buffer.from(path.slice(1))]) : Buffer.from(path);
  if (name.length > SOCKADDR_UN_BYTES - 2) throw new Error(`NOTIFY_SOCKET path is longer than ${SOCKADDR_UN_BYTES - 2} bytes: ${path}`);
  const addr = new Uint8Array(2 + name.length);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  return addr;
}

/** "KEY=value" lines, as sd_notify takes them. */
export function notifyMessage(state: Record<string, string>): string {
  return Object.entries(state)
    .map(([k, v]) => `${k}=${v.replace(/\n/g, " ")}`)
    .join("\n");
}

/**
 * A notifier for $NOTIFY_SOCKET, or a no-op without one (not started by systemd). Failures are logged,
 * never fatal: a member that serves but cannot tell systemd is better than one that exits.
 */
export async function systemdNotifier(env: Record<string, string | undefined>, log: Logger): Promise<Notify> {
  const path = env.NOTIFY_SOCKET;
  if (!path) return () => {};
  const c = await loadLibc();
  if (!c) {
    log("warn", "NOTIFY_SOCKET is set but libc could not be loaded; systemd will not hear READY=1", { socket: path });
    return () => {};
  }
  let addr: Uint8Array;
  try {
    addr = socketAddress(path);
  } catch (e) {
    log("warn", (e as Error).message);
    return () => {};
  }
  const { ptr } = await import("bun:ffi");
  return (state) => {
    const msg = Buffer.from(notifyMessage(state));
    const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      log("warn", "cannot notify systemd: socket() failed", { socket: path });
      return;
    }
    try {
      const sent = Number(c.sendto(fd, ptr(msg), msg.length, 0, ptr(addr), addr.length));
      if (sent !== msg.length) log("warn", "cannot notify systemd: sendto() failed", { socket: path, state: Object.keys(state).join(",") });
    } finally {
      c.close(fd);
    }
  };
}
