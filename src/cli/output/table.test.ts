import { expect, test } from "bun:test";
import { renderTable } from "./table.ts";

// Expected tables rendered by github.com/olekukonko/tablewriter itself (a small Go program with
// SetHeader, Append, SetAlignment(ALIGN_RIGHT), Render: what etcdctl's printer_table.go does).

test("member list: centred headers, right-aligned cells, an empty cell, a long word kept whole", () => {
  const table = renderTable(["ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"], [
    ["bdae9bbc11dd390d", "unstarted", "", "http://127.0.0.1:23801", "", "false"],
    ["2943212f5e2cf73", "started", "n2", "http://127.0.0.1:23802,http://127.0.0.1:23812", "http://127.0.0.1:23702", "false"],
  ]);
  expect(table).toBe("+------------------+-----------+------+-----------------------------------------------+------------------------+------------+\n|        ID        |  STATUS   | NAME |                  PEER ADDRS                   |      CLIENT ADDRS      | IS LEARNER |\n+------------------+-----------+------+-----------------------------------------------+------------------------+------------+\n| bdae9bbc11dd390d | unstarted |      |                        http://127.0.0.1:23801 |                        |      false |\n|  2943212f5e2cf73 |   started |   n2 | http://127.0.0.1:23802,http://127.0.0.1:23812 | http://127.0.0.1:23702 |      false |\n+------------------+-----------+------+-----------------------------------------------+------------------------+------------+\n");
});

test("endpoint health: a trailing space in a cell is kept", () => {
  const table = renderTable(["endpoint", "health", "took", "error"], [
    ["127.0.0.1:2379", "false", "1.850456ms", "Active Alarm(s): NOSPACE "],
    ["127.0.0.1:23701", "false", "5.000856812s", "context deadline exceeded"],
  ]);
  expect(table).toBe("+-----------------+--------+--------------+---------------------------+\n|    ENDPOINT     | HEALTH |     TOOK     |           ERROR           |\n+-----------------+--------+--------------+---------------------------+\n|  127.0.0.1:2379 |  false |   1.850456ms | Active Alarm(s): NOSPACE  |\n| 127.0.0.1:23701 |  false | 5.000856812s | context deadline exceeded |\n+-----------------+--------+--------------+---------------------------+\n");
});

test("endpoint status: a cell over 30 columns wraps at word boundaries", () => {
  const table = renderTable(
    ["endpoint", "ID", "version", "db size", "is leader", "is learner", "raft term", "raft index", "raft applied index", "errors"],
    [["127.0.0.1:2379", "8e9e05c52164694d", "3.5.5", "25 kB", "true", "false", "2", "5", "5", "memberID:10276657743932975437 alarm:NOSPACE , memberID:10276657743932975437 alarm:CORRUPT "]],
  );
  expect(table).toBe("+----------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------------------------------+\n|    ENDPOINT    |        ID        | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX |             ERRORS             |\n+----------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------------------------------+\n| 127.0.0.1:2379 | 8e9e05c52164694d |   3.5.5 |   25 kB |      true |      false |         2 |          5 |                  5 |  memberID:10276657743932975437 |\n|                |                  |         |         |           |            |           |            |                    |                alarm:NOSPACE , |\n|                |                  |         |         |           |            |           |            |                    |  memberID:10276657743932975437 |\n|                |                  |         |         |           |            |           |            |                    |                 alarm:CORRUPT  |\n+----------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------------------------------+\n");
});

test("headers lose '_' and '.', newlines in cells reflow, long words widen the column", () => {
  const table = renderTable(["a_b", "x.y", "1.5"], [
    ["one two three four five six seven eight nine ten eleven", "line1\nline2", "averyveryveryveryverylongwordthatexceedsthirtycolumns and more"],
  ]);
  expect(table).toBe("+--------------------------------+-------+-------------------------------------------------------+\n|              A B               |  X Y  |                          1.5                          |\n+--------------------------------+-------+-------------------------------------------------------+\n|    one two three four five six | line1 | averyveryveryveryverylongwordthatexceedsthirtycolumns |\n|    seven eight nine ten eleven | line2 |                                              and more |\n+--------------------------------+-------+-------------------------------------------------------+\n");
});
