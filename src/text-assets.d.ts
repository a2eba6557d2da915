// Files the binary embeds as text (import … with { type: "text" }): the systemd unit and etcd.conf.
declare module "*.service" {
  const text: string;
  export default text;
}
declare module "*.conf" {
  const text: string;
  export default text;
}
