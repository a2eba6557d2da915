/** One field of a message, as the JSON mapping needs it (generated into schema.gen.ts from proto/). */
export interface FieldSchema {
  /** The proto field name: what jsonpb writes with OrigName, and one of the two names it reads. */
  readonly name: string;
  /** protoc's lowerCamelCase json_name: the other name jsonpb reads. */
  readonly json: string;
  /** The protobufjs property name. */
  readonly prop: string;
  /** A scalar type ("int64", "bytes", …) or the full name of a message or enum. */
  readonly type: string;
  /** Set for message and enum types. */
  readonly kind?: "message" | "enum";
  readonly repeated?: boolean;
  /** The oneof group the field belongs to. */
  readonly oneof?: string;
}

export interface EnumSchema {
  /** The name Go's protobuf registers the enum under (jsonpb and encoding/json errors quote it). */
  readonly goName: string;
  readonly values: Readonly<Record<string, number>>;
}
