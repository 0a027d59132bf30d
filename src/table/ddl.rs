//! Reading a `CREATE TABLE` statement's column list, so a table's columns
//! have one source — its statement — for checking an existing table and
//! for checking row types against it.

/// A column's name and type, as ClickHouse spells them.
pub type Column = (String, String);

/// The columns `ddl` declares (`CREATE TABLE … name (col Type, …) ENGINE …`),
/// in order. Types keep their parentheses (`Array(String)`,
/// `Decimal(18, 2)`); `DEFAULT`, `CODEC` and the like are left out.
///
/// ```
/// let cols = mable_pipeline::table::columns_of(
///     "CREATE TABLE IF NOT EXISTS {db}.t (\n  a UInt8,\n  b Array(String) DEFAULT [],\n  c Decimal(18, 2)\n) ENGINE = Log",
/// );
/// let names: Vec<_> = cols.iter().map(|(n, t)| format!("{n}:{t}")).collect();
/// assert_eq!(names, ["a:UInt8", "b:Array(String)", "c:Decimal(18, 2)"]);
/// ```
pub fn columns_of(ddl: &str) -> Vec<Column> {
    let Some(open) = ddl.find('(') else {
        return Vec::new();
    };
    let body = &ddl[open + 1..];
    let mut columns = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                push_column(&body[start..i], &mut columns);
                break;
            }
            ')' => depth -= 1,
            ',' if depth == 0 => {
                push_column(&body[start..i], &mut columns);
                start = i + 1;
            }
            _ => {}
        }
    }
    columns
}

fn push_column(def: &str, out: &mut Vec<Column>) {
    let def = def.trim();
    let Some((name, rest)) = def.split_once(char::is_whitespace) else {
        return;
    };
    let mut ty = rest.trim();
    for keyword in [
        " DEFAULT",
        " MATERIALIZED",
        " ALIAS",
        " CODEC",
        " COMMENT",
        " TTL",
    ] {
        if let Some(at) = ty.find(keyword) {
            ty = ty[..at].trim_end();
        }
    }
    out.push((name.trim_matches('`').to_string(), ty.to_string()));
}
