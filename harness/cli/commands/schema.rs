//! `promptgate schema`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::SchemaOf;
use crate::output::print_json;

/// Prints the JSON Schema of `promptgate.yaml` or of a suite file.
pub(crate) fn run(of: SchemaOf) -> Result<i32, Error> {
    print_json(&match of {
        SchemaOf::Config => ops::config_schema(),
        SchemaOf::Suite => ops::suite_schema(),
    })?;
    Ok(exit::PASS)
}
