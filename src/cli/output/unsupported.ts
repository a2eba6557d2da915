import { CliError, ExitCode } from "../errors.ts";

/** etcdctl's answer when a command has no printer for the chosen -w format. */
export function unsupportedFormat(format: string): CliError {
  return new CliError(ExitCode.BadFeature, `${format} not supported as output format`);
}
